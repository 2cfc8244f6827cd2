from django.contrib import admin

from jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "project", "status", "progress", "attempts", "created_at", "heartbeat_at"]
    list_filter = ["kind", "status"]
    readonly_fields = ["log_tail", "error", "traceback", "metrics", "result", "celery_task_id"]
