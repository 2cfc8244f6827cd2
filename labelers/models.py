"""Label quality: each ranking's scores (RankingQuality) and what admins are told (LabelerAlert).

Membership (a user's role in one project, pause and qualification) lives in annotate.models,
below this app: the lease path reads it on every call.
"""
from django.conf import settings
from django.db import models


class RankingQuality(models.Model):
    """How one ranking scored: against its gold answer, and against the consensus of the other
    labelers of its task. Written by labelers/services/quality.py when the ranking is
    submitted (gold) and when its task completes (consensus); read by stats, pause checks and
    the review queue, so none of them recomputes consensus."""

    ranking = models.OneToOneField("annotate.Ranking", on_delete=models.CASCADE, related_name="quality")
    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="+")
    task = models.ForeignKey("annotate.Task", on_delete=models.CASCADE, related_name="+")
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    is_gold = models.BooleanField(default=False)
    is_screening = models.BooleanField(default=False)
    gold_score = models.FloatField(null=True, blank=True, help_text="0..1 against the gold answer.")
    consensus_agreement = models.FloatField(
        null=True, blank=True, help_text="Pairwise agreement with the consensus of the task's other labelers.")
    consensus_pairs = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["project", "labeler", "-created_at"], name="quality_labeler_idx")]


class AlertKind(models.TextChoices):
    QUALIFICATION_FAILED = "qualification_failed", "Failed the screening"
    PAUSED_GOLD = "paused_gold", "Paused: low gold accuracy"
    PAUSED_AGREEMENT = "paused_agreement", "Paused: low agreement"


class LabelerAlert(models.Model):
    """Something an admin of the project must look at (shown on the project's labeler page and
    over the API until resolved)."""

    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="labeler_alerts")
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=24, choices=AlertKind.choices)
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "resolved_at"], name="alert_open_idx")]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.labeler} in {self.project}"
