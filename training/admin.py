from django.contrib import admin

from training.models import Job, ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "backend", "parent", "is_bundled", "created_at"]
    list_filter = ["kind", "backend"]
    # The API key is write-only: never shown back, not even to admins.
    exclude = ["api_key"]
    readonly_fields = ["metrics"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "project", "status", "progress", "attempts", "created_at", "heartbeat_at"]
    list_filter = ["kind", "status"]
    readonly_fields = ["log_tail", "error", "traceback", "metrics", "result", "celery_task_id"]
