from django.contrib import admin

from annotate.admin import ProjectAdmin
from annotate.models import Membership
from labelers.models import LabelerAlert, RankingQuality


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


ProjectAdmin.inlines = [*ProjectAdmin.inlines, MembershipInline]  # a project's page lists its members


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "is_paused", "qualification_status", "qualification_score"]
    list_filter = ["project", "role", "is_paused", "qualification_status"]
    autocomplete_fields = ["user"]


@admin.register(LabelerAlert)
class LabelerAlertAdmin(admin.ModelAdmin):
    list_display = ["created_at", "project", "labeler", "kind", "message", "resolved_at"]
    list_filter = ["project", "kind"]
    readonly_fields = ["project", "labeler", "kind", "message", "created_at"]


@admin.register(RankingQuality)
class RankingQualityAdmin(admin.ModelAdmin):
    """Written by the quality services; read-only here."""

    list_display = ["ranking", "project", "labeler", "is_gold", "gold_score", "consensus_agreement", "created_at"]
    list_filter = ["project", "is_gold", "is_screening"]
    raw_id_fields = ["ranking", "task"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
