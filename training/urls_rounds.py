from django.urls import path

from training import views_rounds

app_name = "rounds"
urlpatterns = [
    path("", views_rounds.round_list, name="list"),
    path("projects/<id:project_id>/start/", views_rounds.round_start_view, name="start"),
    path("<id:round_id>/", views_rounds.round_detail, name="detail"),
    path("<id:round_id>/retry/", views_rounds.round_retry_view, name="retry"),
    path("<id:round_id>/continue/", views_rounds.round_continue_view, name="continue"),
    path("<id:round_id>/cancel/", views_rounds.round_cancel_view, name="cancel"),
]
