from django.contrib import admin

from labelers.models import Membership


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "is_paused"]
    list_filter = ["project", "role", "is_paused"]
    autocomplete_fields = ["user"]
