from django.urls import path

from labelers import apis

app_name = "labelers-api"
urlpatterns = [
    path("projects/<int:project_id>/labeler-stats/", apis.LabelerStatsApi.as_view(), name="labeler-stats"),
    path("projects/<int:project_id>/quality/", apis.ProjectQualityApi.as_view(), name="project-quality"),
    path("projects/<int:project_id>/review-queue/", apis.ReviewQueueApi.as_view(), name="review-queue"),
    path("submissions/<str:kind>/<int:submission_id>/review/", apis.SubmissionReviewApi.as_view(),
         name="submission-review"),
    path("projects/<int:project_id>/calibration/", apis.CalibrationApi.as_view(), name="calibration"),
    path("projects/<int:project_id>/alerts/", apis.AlertListApi.as_view(), name="alerts"),
    path("alerts/<int:alert_id>/resolve/", apis.AlertResolveApi.as_view(), name="alert-resolve"),
    path("projects/<int:project_id>/labelers/<int:user_id>/resume/", apis.LabelerResumeApi.as_view(),
         name="labeler-resume"),
    path("projects/<int:project_id>/labelers/<int:user_id>/qualification/", apis.LabelerQualificationApi.as_view(),
         name="labeler-qualification"),
    path("tasks/<int:task_id>/gold/", apis.TaskGoldApi.as_view(), name="task-gold"),
    path("tasks/<int:task_id>/consensus/", apis.TaskConsensusApi.as_view(), name="task-consensus"),
]
