from django.urls import path

from labelers import views, views_members, views_tokens

app_name = "labelers"
urlpatterns = [
    path("tokens/", views_tokens.tokens_page, name="tokens"),
    path("tokens/new/", views_tokens.token_create_view, name="token-create"),
    path("tokens/<slug:key>/revoke/", views_tokens.token_revoke_view, name="token-revoke"),
    path("projects/<id:project_id>/", views.project_labelers, name="project"),
    path("projects/<id:project_id>/members/", views_members.members, name="members"),
    path("projects/<id:project_id>/members/add/", views_members.member_add, name="member-add"),
    path("projects/<id:project_id>/members/create/", views_members.account_create, name="account-create"),
    path("projects/<id:project_id>/members/<id:user_id>/", views_members.member_change, name="member-change"),
    path("projects/<id:project_id>/labelers/<id:user_id>/resume/", views.labeler_resume, name="resume"),
    path("projects/<id:project_id>/labelers/<id:user_id>/qualify/", views.labeler_qualify, name="qualify"),
    path("projects/<id:project_id>/alerts/<id:alert_id>/resolve/", views.alert_resolve_view, name="alert-resolve"),
    path("projects/<id:project_id>/review/", views.review_queue_view, name="review"),
    path("projects/<id:project_id>/review/<str:kind>/<id:submission_id>/", views.review_submission_view,
         name="review-submission"),
    path("projects/<id:project_id>/review/<str:kind>/<id:submission_id>/gold/", views.task_gold_view,
         name="task-gold"),
    path("projects/<id:project_id>/calibration/", views.calibration_view, name="calibration"),
]
