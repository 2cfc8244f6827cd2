from django.contrib import admin

from training.models import ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "backend", "parent", "is_bundled", "created_at"]
    list_filter = ["kind", "backend"]
    # The API key is write-only: never shown back, not even to admins.
    exclude = ["api_key"]
    readonly_fields = ["metrics"]

