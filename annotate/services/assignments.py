"""Handing out work: leases on tasks.

Counters on Task (submissions_count, active_leases) change only under the task's row lock,
so `submissions_count + active_leases <= submissions_required` always holds. On PostgreSQL,
concurrent labelers pass over each other's locked rows (FOR UPDATE SKIP LOCKED); on SQLite,
transactions start IMMEDIATE, so writers take turns.
"""
from __future__ import annotations

import random
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from annotate.models import Assignment, AssignmentState, Project, Task, TaskState
from labelers.models import Membership

DONE_STATES = (AssignmentState.ACTIVE, AssignmentState.SUBMITTED, AssignmentState.SKIPPED)


def _membership(*, user, project: Project) -> Membership:
    membership = Membership.objects.filter(user=user, project=project).first()
    if membership is None:
        raise PermissionDenied("You are not a member of this project.")
    return membership


def leases_expire(*, project: Project | None = None, now=None) -> int:
    """Return expired leases' tasks to the pool. Safe to call often and concurrently."""
    now = now or timezone.now()
    stale = Assignment.objects.filter(state=AssignmentState.ACTIVE, expires_at__lte=now)
    if project is not None:
        stale = stale.filter(project=project)
    expired = 0
    for assignment_id, task_id in stale.values_list("pk", "task_id")[:500]:
        with transaction.atomic():
            Task.objects.select_for_update().filter(pk=task_id).first()
            if Assignment.objects.filter(pk=assignment_id, state=AssignmentState.ACTIVE).update(
                state=AssignmentState.EXPIRED, finished_at=now
            ):
                Task.objects.filter(pk=task_id, active_leases__gt=0).update(active_leases=F("active_leases") - 1)
                expired += 1
    return expired


def _shuffled(ids: list[int]) -> list[int]:
    order = list(ids)
    random.SystemRandom().shuffle(order)
    return order


def task_next_for_labeler(*, user, project: Project) -> Assignment | None:
    """A lease on the next task for this labeler, or None when no work is available.

    A labeler who already holds a live lease in the project gets it back. Never a task they
    submitted or skipped, never more leases on a task than it still needs; tasks closest to
    completion first (after model-queue priority)."""
    membership = _membership(user=user, project=project)
    if membership.is_paused:
        raise PermissionDenied(f"Your work on this project is paused: {membership.paused_reason or 'ask an admin'}.")
    now = timezone.now()
    live = (
        Assignment.objects.filter(labeler=user, project=project, state=AssignmentState.ACTIVE, expires_at__gt=now)
        .order_by("leased_at").first()
    )
    if live:
        return live
    leases_expire(project=project, now=now)

    mine = Assignment.objects.filter(task=OuterRef("pk"), labeler=user, state__in=DONE_STATES)
    pool = (
        Task.objects.filter(project=project, state=TaskState.OPEN,
                            submissions_required__gt=F("submissions_count") + F("active_leases"))
        .exclude(Exists(mine))
        .order_by("-priority", "-submissions_count", "pk")
    )
    with transaction.atomic():
        if connection.features.has_select_for_update_skip_locked:
            task = pool.select_for_update(skip_locked=True, of=("self",)).first()
        else:
            task = pool.first()
        if task is None:
            return None
        Task.objects.filter(pk=task.pk).update(active_leases=F("active_leases") + 1)
        return Assignment.objects.create(
            task=task, labeler=user, project=project, state=AssignmentState.ACTIVE,
            leased_at=now, expires_at=now + timedelta(seconds=project.lease_seconds),
            shown_order=_shuffled(task.candidate_ids()),
        )


def assignment_for_user(*, user, assignment_id: int, lock: bool = False) -> Assignment:
    """The labeler's own assignment; anyone else's is reported as not found."""
    qs = Assignment.objects.select_related("task", "project")
    if lock:
        qs = qs.select_for_update(of=("self",))
    assignment = qs.filter(pk=assignment_id, labeler=user).first()
    if assignment is None:
        raise Assignment.DoesNotExist("No such assignment for you.")
    return assignment


def lease_check(*, assignment: Assignment, now=None) -> None:
    """Precondition of every submission: the assignment is active and its lease is live.
    Call inside a transaction holding the assignment's row lock."""
    now = now or timezone.now()
    if assignment.state == AssignmentState.SKIPPED:
        raise ValidationError("You skipped this task; it cannot be submitted.")
    if assignment.state == AssignmentState.EXPIRED or assignment.expires_at <= now:
        raise ValidationError("Your lease on this task has expired; ask for the next task.")
    if assignment.state != AssignmentState.ACTIVE:
        raise ValidationError(f"This assignment is {assignment.state}.")


def assignment_finish(*, assignment: Assignment, state: str, now=None, skip_reason: str = "") -> None:
    """Close an active lease and update the task's counters. Call inside a transaction."""
    now = now or timezone.now()
    task = Task.objects.select_for_update().get(pk=assignment.task_id)
    assignment.state, assignment.finished_at, assignment.skip_reason = state, now, skip_reason
    assignment.save(update_fields=["state", "finished_at", "skip_reason"])
    task.active_leases = max(0, task.active_leases - 1)
    fields = ["active_leases"]
    if state == AssignmentState.SUBMITTED:
        task.submissions_count += 1
        fields.append("submissions_count")
        if task.submissions_count >= task.submissions_required:
            task.state = TaskState.COMPLETE
            fields.append("state")
    task.save(update_fields=fields)


@transaction.atomic
def assignment_skip(*, user, assignment_id: int, reason: str) -> Assignment:
    """Give the task back with a reason; it is never offered to this labeler again."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why you skip this task.")
    assignment = assignment_for_user(user=user, assignment_id=assignment_id, lock=True)
    if assignment.state == AssignmentState.SKIPPED:
        return assignment
    lease_check(assignment=assignment)
    assignment_finish(assignment=assignment, state=AssignmentState.SKIPPED, skip_reason=reason[:2000])
    return assignment
