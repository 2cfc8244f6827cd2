from django.urls import path

from training import views_jobs

app_name = "jobs"
urlpatterns = [
    path("", views_jobs.job_list, name="list"),
    path("<id:job_id>/", views_jobs.job_detail, name="detail"),
    path("<id:job_id>/row/", views_jobs.job_row, name="row"),
    path("<id:job_id>/cancel/", views_jobs.job_cancel_view, name="cancel"),
    path("<id:job_id>/retry/", views_jobs.job_retry_view, name="retry"),
]
