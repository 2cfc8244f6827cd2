from django.contrib import admin

from annotate.models import Assignment, Candidate, Demonstration, Project, Prompt, Ranking, Task, TaskCandidate


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "k", "submissions_required", "created_at"]
    search_fields = ["name"]
    inlines = []  # labelers/admin.py adds the members
    filter_horizontal = ["sampling_models"]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "__str__", "project", "source", "language", "created_at"]
    list_filter = ["project", "source", "language"]
    search_fields = ["content_hash"]
    readonly_fields = ["content_hash", "split_key"]


@admin.register(Candidate)
class CandidateAdmin(admin.ModelAdmin):
    list_display = ["id", "__str__", "prompt", "model_version", "source", "seed"]
    list_filter = ["model_version", "source"]
    raw_id_fields = ["prompt", "generation_job"]


class TaskCandidateInline(admin.TabularInline):
    model = TaskCandidate
    extra = 0
    raw_id_fields = ["candidate"]


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "state", "submissions_count", "submissions_required", "is_gold", "priority"]
    list_filter = ["project", "kind", "state", "is_gold"]
    raw_id_fields = ["prompt", "generation_job"]
    inlines = [TaskCandidateInline]
    # Gold answers are validated by labelers.services.gold.task_mark_gold (the review pages);
    # counters belong to the assignment services.
    readonly_fields = ["is_gold", "gold_answer", "submissions_count", "active_leases"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "task", "labeler", "state", "leased_at", "expires_at"]
    list_filter = ["state", "project"]
    raw_id_fields = ["task"]


class SubmissionAdmin(admin.ModelAdmin):
    """Submissions are immutable: the admin shows them and changes only the review fields."""

    list_filter = ["review_status", "source"]
    raw_id_fields = ["task", "assignment"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [f.name for f in self.model._meta.fields if f.name not in self.model.MUTABLE_FIELDS]


@admin.register(Ranking)
class RankingAdmin(SubmissionAdmin):
    list_display = ["id", "task", "labeler", "outcome", "review_status", "created_at"]


@admin.register(Demonstration)
class DemonstrationAdmin(SubmissionAdmin):
    list_display = ["id", "task", "labeler", "suggestion_used", "review_status", "created_at"]
