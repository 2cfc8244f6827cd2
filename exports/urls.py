from django.urls import path

from exports import views

app_name = "exports"
urlpatterns = [
    path("projects/<int:project_id>/", views.project_exports, name="project"),
    path("projects/<int:project_id>/export/", views.export_create, name="export-create"),
    path("projects/<int:project_id>/import/", views.import_create, name="import-create"),
    path("jobs/<int:job_id>/", views.job_detail, name="job"),
    path("<int:snapshot_id>/", views.snapshot_detail, name="snapshot"),
    path("<int:snapshot_id>/download/", views.snapshot_download, name="download"),
]
