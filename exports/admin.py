from django.contrib import admin

from exports.models import ExportSnapshot


@admin.register(ExportSnapshot)
class ExportSnapshotAdmin(admin.ModelAdmin):
    list_display = ["project", "version", "created_at", "sha256"]
    readonly_fields = ["manifest", "sha256", "path"]
