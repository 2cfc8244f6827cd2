from django.urls import path

from exports import apis

app_name = "exports-api"
urlpatterns = [
    path("projects/<id:project_id>/exports/", apis.ExportListCreateApi.as_view(), name="export-list"),
    path("projects/<id:project_id>/imports/", apis.ImportCreateApi.as_view(), name="import-create"),
    path("exports/<id:snapshot_id>/", apis.ExportDetailApi.as_view(), name="export-detail"),
    path("exports/<id:snapshot_id>/download/", apis.ExportDownloadApi.as_view(), name="export-download"),
]
