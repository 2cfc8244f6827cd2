from django.urls import path

from exports import views

app_name = "exports"
urlpatterns = [
    path("projects/<id:project_id>/", views.project_exports, name="project"),
    path("projects/<id:project_id>/export/", views.export_create, name="export-create"),
    path("projects/<id:project_id>/import/", views.import_create, name="import-create"),
    path("jobs/<id:job_id>/", views.job_detail, name="job"),
    path("<id:snapshot_id>/", views.snapshot_detail, name="snapshot"),
    path("<id:snapshot_id>/download/", views.snapshot_download, name="download"),
]
