"""The review queue's write: accept or reject a submission with a comment."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from annotate.models import Demonstration, Ranking, ReviewStatus, Task, TaskState
from labelers.selectors.access import project_role

KINDS = {"ranking": Ranking, "demonstration": Demonstration}


def review_access_check(*, reviewer, kind: str, submission_id: int) -> int:
    """Who may review: a reviewer or admin of the submission's project (another project's
    submission is "not found", like a missing one). Returns the submission's task id."""
    model = KINDS.get(kind)
    if model is None:
        raise ValidationError(f"Unknown submission kind {kind!r}; use ranking or demonstration.")
    found = model.objects.filter(pk=submission_id).values_list("task_id", "task__project_id").first()
    role = project_role(user=reviewer, project_id=found[1]) if found else None
    if role is None:
        raise model.DoesNotExist(f"No such {kind}.")
    if role not in ("admin", "reviewer"):
        raise PermissionDenied("Only reviewers and admins of this project can review its submissions.")
    return found[0]


def review_check(*, reviewer, submission, decision: str, comment: str) -> str:
    """What a review must say. Returns the cleaned comment."""
    if submission.labeler_id == reviewer.pk:
        raise PermissionDenied("You cannot review your own submission.")
    if decision not in (ReviewStatus.ACCEPTED, ReviewStatus.REJECTED):
        raise ValidationError(f"A review decision is 'accepted' or 'rejected', not {decision!r}.")
    comment = (comment or "").strip()
    if "\x00" in comment:
        raise ValidationError("The comment may not contain NUL characters.")
    if decision == ReviewStatus.REJECTED and not comment:
        raise ValidationError("Say why you reject this submission; the labeler will see your comment.")
    if submission.review_status == ReviewStatus.REJECTED:
        raise ValidationError("This submission was already rejected; a rejection is final.")
    return comment[:4000]


@transaction.atomic
def submission_review(*, reviewer, kind: str, submission_id: int, decision: str, comment: str = ""):
    """Accept or reject a submission. A rejected one no longer counts: the task's submission
    count drops and a completed task reopens for another labeler (not the same one: their
    assignment stays submitted). The labeler sees the comment on their calibration page."""
    model = KINDS.get(kind)
    task_id = review_access_check(reviewer=reviewer, kind=kind, submission_id=submission_id)
    task = Task.objects.select_for_update().get(pk=task_id)  # lock order: task, then submission
    submission = model.objects.select_for_update().select_related("task").get(pk=submission_id)
    comment = review_check(reviewer=reviewer, submission=submission, decision=decision, comment=comment)
    submission.review_status, submission.review_comment = decision, comment
    submission.reviewed_by, submission.reviewed_at = reviewer, timezone.now()
    submission.save(update_fields=["review_status", "review_comment", "reviewed_by", "reviewed_at"])
    if decision == ReviewStatus.REJECTED and submission.source == "labeler":
        fields = []
        if task.submissions_count > 0:
            task.submissions_count -= 1
            fields.append("submissions_count")
        if task.state == TaskState.COMPLETE and task.submissions_count < task.submissions_required:
            task.state = TaskState.OPEN
            fields.append("state")
        if fields:
            task.save(update_fields=fields)
    return submission
