from django.urls import path

from labelers import apis

app_name = "labelers-api"
urlpatterns = [
    path("projects/<id:project_id>/labeler-stats/", apis.LabelerStatsApi.as_view(), name="labeler-stats"),
    path("projects/<id:project_id>/quality/", apis.ProjectQualityApi.as_view(), name="project-quality"),
    path("projects/<id:project_id>/review-queue/", apis.ReviewQueueApi.as_view(), name="review-queue"),
    path("submissions/<str:kind>/<id:submission_id>/review/", apis.SubmissionReviewApi.as_view(),
         name="submission-review"),
    path("projects/<id:project_id>/calibration/", apis.CalibrationApi.as_view(), name="calibration"),
    path("projects/<id:project_id>/alerts/", apis.AlertListApi.as_view(), name="alerts"),
    path("alerts/<id:alert_id>/resolve/", apis.AlertResolveApi.as_view(), name="alert-resolve"),
    path("projects/<id:project_id>/labelers/<id:user_id>/resume/", apis.LabelerResumeApi.as_view(),
         name="labeler-resume"),
    path("projects/<id:project_id>/labelers/<id:user_id>/qualification/", apis.LabelerQualificationApi.as_view(),
         name="labeler-qualification"),
    path("tasks/<id:task_id>/gold/", apis.TaskGoldApi.as_view(), name="task-gold"),
    path("tasks/<id:task_id>/consensus/", apis.TaskConsensusApi.as_view(), name="task-consensus"),
]
