"""Accounts, roles and per-project membership.

Roles exist twice on purpose: a Django group (admin, reviewer, labeler) says what a person may
do in general; a Membership says what they may do in one project. A labeler reaches only the
projects they are a member of.
"""
from django.conf import settings
from django.db import models

from core.roles import Role  # the global roles; a Membership's role is one of them


class QualificationStatus(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"


class Membership(models.Model):
    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.LABELER)
    is_paused = models.BooleanField(default=False, help_text="Paused labelers get no new work.")
    paused_reason = models.TextField(blank=True)
    qualification_status = models.CharField(
        max_length=12, choices=QualificationStatus.choices, default=QualificationStatus.NOT_STARTED)
    qualification_score = models.FloatField(null=True, blank=True)
    qualified_at = models.DateTimeField(null=True, blank=True)
    quality_since = models.DateTimeField(
        null=True, blank=True, help_text="Pause checks count only results after this (set when an admin resumes).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_once")]

    def __str__(self):
        return f"{self.user} in {self.project} as {self.role}"


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
