from django.urls import path

from training import views_rounds

app_name = "rounds"
urlpatterns = [
    path("", views_rounds.round_list, name="list"),
    path("projects/<int:project_id>/start/", views_rounds.round_start_view, name="start"),
    path("<int:round_id>/", views_rounds.round_detail, name="detail"),
    path("<int:round_id>/retry/", views_rounds.round_retry_view, name="retry"),
    path("<int:round_id>/cancel/", views_rounds.round_cancel_view, name="cancel"),
]
