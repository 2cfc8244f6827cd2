from django.urls import path

from training import apis_jobs

app_name = "training-api"
urlpatterns = [
    path("jobs/", apis_jobs.JobListApi.as_view(), name="job-list"),
    path("jobs/<int:job_id>/", apis_jobs.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<int:job_id>/cancel/", apis_jobs.JobCancelApi.as_view(), name="job-cancel"),
    path("jobs/<int:job_id>/retry/", apis_jobs.JobRetryApi.as_view(), name="job-retry"),
]
