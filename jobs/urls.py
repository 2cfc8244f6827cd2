from django.urls import path

from jobs import views

app_name = "jobs"
urlpatterns = [
    path("", views.job_list, name="list"),
    path("<id:job_id>/", views.job_detail, name="detail"),
    path("<id:job_id>/row/", views.job_row, name="row"),
    path("<id:job_id>/cancel/", views.job_cancel_view, name="cancel"),
    path("<id:job_id>/retry/", views.job_retry_view, name="retry"),
]
