"""Accounts, roles and per-project membership.

Roles exist twice on purpose: a Django group (admin, reviewer, labeler) says what a person may
do in general; a Membership says what they may do in one project. A labeler reaches only the
projects they are a member of.
"""
from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    REVIEWER = "reviewer", "Reviewer"
    LABELER = "labeler", "Labeler"


class Membership(models.Model):
    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.LABELER)
    is_paused = models.BooleanField(default=False, help_text="Paused labelers get no new work.")
    paused_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_once")]

    def __str__(self):
        return f"{self.user} in {self.project} as {self.role}"
