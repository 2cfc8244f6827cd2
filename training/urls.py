from django.urls import path

from training import views

app_name = "training"
urlpatterns = [
    path("models/", views.model_list, name="model-list"),
    path("models/lineage/", views.lineage, name="lineage"),
    path("models/<int:model_id>/", views.model_detail, name="model-detail"),
    path("generate/", views.generate, name="generate"),
    path("generate/count/", views.generate_count, name="generate-count"),
    path("playground/", views.playground, name="playground"),
]
