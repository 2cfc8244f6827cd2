from django.urls import path

from labelers import views, views_members

app_name = "labelers"
urlpatterns = [
    path("projects/<int:project_id>/", views.project_labelers, name="project"),
    path("projects/<int:project_id>/members/", views_members.members, name="members"),
    path("projects/<int:project_id>/members/add/", views_members.member_add, name="member-add"),
    path("projects/<int:project_id>/members/create/", views_members.account_create, name="account-create"),
    path("projects/<int:project_id>/members/<int:user_id>/", views_members.member_change, name="member-change"),
    path("projects/<int:project_id>/labelers/<int:user_id>/resume/", views.labeler_resume, name="resume"),
    path("projects/<int:project_id>/labelers/<int:user_id>/qualify/", views.labeler_qualify, name="qualify"),
    path("projects/<int:project_id>/alerts/<int:alert_id>/resolve/", views.alert_resolve_view, name="alert-resolve"),
    path("projects/<int:project_id>/review/", views.review_queue_view, name="review"),
    path("projects/<int:project_id>/review/<str:kind>/<int:submission_id>/", views.review_submission_view,
         name="review-submission"),
    path("projects/<int:project_id>/review/<str:kind>/<int:submission_id>/gold/", views.task_gold_view,
         name="task-gold"),
    path("projects/<int:project_id>/calibration/", views.calibration_view, name="calibration"),
]
