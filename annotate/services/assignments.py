"""Handing out work: leases on tasks.

Counters on Task (submissions_count, active_leases) change only under the task's row lock,
so `submissions_count + active_leases <= submissions_required` always holds for non-gold tasks.
On PostgreSQL, concurrent labelers pass over each other's locked rows (FOR UPDATE SKIP LOCKED);
on SQLite, transactions start IMMEDIATE, so writers take turns.

Lock order: membership → task → assignment. (After a submit, the quality checks lock a
membership last, only to pause a labeler or decide a screening; leasing never waits on a task
lock another transaction holds, it skips the row, so the two cannot wait on each other in a
cycle.) Gold tasks have no capacity, so no lease counter either: every labeler may do each gold
task once, they never complete, and they reach a labeler only through the gold mix
(project.gold_rate) or the qualification screening.
"""
from __future__ import annotations

import random
import time
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.http import Http404
from django.utils import timezone

from annotate import registry
from annotate.models import (
    Assignment,
    AssignmentState,
    Membership,
    Project,
    QualificationStatus,
    Task,
    TaskCandidate,
    TaskState,
)
from annotate.selectors import assignment_refused, paused_message

DONE_STATES = (AssignmentState.ACTIVE, AssignmentState.SUBMITTED, AssignmentState.SKIPPED)
_rng = random.SystemRandom()


def leases_expire(*, project: Project | int | None = None, now=None) -> int:
    """Return expired leases' tasks to the pool. Safe to call often and concurrently."""
    now = now or timezone.now()
    stale = Assignment.objects.filter(state=AssignmentState.ACTIVE, expires_at__lte=now)
    if project is not None:
        stale = stale.filter(project=project)
    return _leases_close(stale, now=now)


def leases_withdraw(*, project: Project, user, now=None) -> int:
    """Hand the labeler's live leases in the project back to the pool now (an admin removed or
    paused them). Call holding the membership's row lock: each task, then its assignment, is
    locked after it, in the lock order."""
    live = Assignment.objects.filter(project=project, labeler=user, state=AssignmentState.ACTIVE)
    return _leases_close(live, now=now or timezone.now())


def _leases_close(leases, *, now) -> int:
    expired = 0
    for assignment_id, task_id in leases.values_list("pk", "task_id")[:500]:
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
    _rng.shuffle(order)
    return order


def _not_done_by(user):
    return ~Exists(Assignment.objects.filter(task=OuterRef("pk"), labeler=user, state__in=DONE_STATES))


def _gold_pool(*, user, project: Project, screening: bool):
    pool = (Task.objects.select_related("prompt").filter(project=project, is_gold=True, state=TaskState.OPEN)
            .filter(_not_done_by(user)))
    if screening:
        pool = pool.filter(is_screening=True)
    # Random order: a gold task must not be recognisable by when it comes.
    return pool.order_by("?")


def _screening_gate(*, user, project: Project, membership: Membership):
    """While a project requires qualification, a labeler who has not passed gets only screening
    tasks; returns the pool to draw from, or raises with the reason there is none."""
    if membership.qualification_status == QualificationStatus.FAILED:
        raise PermissionDenied(
            f"You did not pass this project's screening (score {membership.qualification_score or 0:.0%}, "
            f"pass mark {project.qualification_pass_mark:.0%}); an admin has been told.")
    pool = _gold_pool(user=user, project=project, screening=True)
    if pool.exists():
        return pool
    if not Task.objects.filter(project=project, is_screening=True, is_gold=True).exists():
        raise PermissionDenied(
            "This project requires a screening before real work, but no screening tasks are set up yet; ask an admin.")
    # Every screening task is done: decide now (normally decided at the last screening submit).
    status = registry.screening_decide(project=project, user=user)
    if status == QualificationStatus.FAILED:
        membership.refresh_from_db()
        return _screening_gate(user=user, project=project, membership=membership)
    return None


def task_next_for_labeler(*, user, project: Project | int) -> Assignment | None:
    """A lease on the next task for this labeler, or None when no work is available.

    A labeler who already holds a live lease in the project gets it back. Never a task they
    submitted or skipped, never more leases on a task than it still needs; tasks closest to
    completion first (after model-queue priority). A gold task comes with probability
    project.gold_rate; before qualification, only screening tasks come.

    `project` may be given by id (the REST API does): the project row is then read with the
    labeler's membership, and a project they are not a member of is Project.DoesNotExist."""
    now = timezone.now()
    project_id = project if isinstance(project, int) else project.pk
    swept = _sweep_due(project_id)
    if swept:
        leases_expire(project=project_id, now=now)
    assignment = _lease_next(user=user, project=project, now=now)
    if assignment is None and not swept:
        # Expired leases still count against their tasks until swept: sweep now and retry, so
        # a task whose lease just expired is never reported as unavailable.
        if leases_expire(project=project_id, now=now):
            assignment = _lease_next(user=user, project=project, now=now)
    return assignment


_last_sweep: dict[int, float] = {}
SWEEP_EVERY_S = 2.0


def _sweep_due(project_id: int) -> bool:
    """Sweeping expired leases on every request would cost a query each time; once every
    SWEEP_EVERY_S per project and process is enough, plus whenever no task is found."""
    now = time.monotonic()
    if now - _last_sweep.get(project_id, -1e9) < SWEEP_EVERY_S:
        return False
    _last_sweep[project_id] = now
    return True


def _live_lease(*, user, project: Project, now) -> Assignment | None:
    """The labeler's live lease in the project, if any. Call after taking the membership lock:
    a new statement sees the lease a request this one waited for has just taken."""
    # Its id first: most calls find none, and the whole row with its task, prompt and project
    # costs several times more to build.
    live = (Assignment.objects.filter(labeler=user, project=project, state=AssignmentState.ACTIVE, expires_at__gt=now)
            .order_by("leased_at").values_list("pk", flat=True).first())
    return None if live is None else Assignment.objects.select_related("task__prompt", "project").get(pk=live)


def _pick_non_gold(*, user, project: Project) -> Task | None:
    """The open non-gold task closest to completion (after priority) this labeler has not had,
    locked, its lease counted; rows other labelers hold are skipped (PostgreSQL)."""
    task = (Task.objects.select_related("prompt")
            .filter(project=project, state=TaskState.OPEN, is_gold=False,
                    submissions_required__gt=F("submissions_count") + F("active_leases"))
            .filter(_not_done_by(user))
            .order_by("-priority", "-submissions_count", "id")
            .select_for_update(skip_locked=True, of=("self",))
            .first())
    if task is not None:
        Task.objects.filter(pk=task.pk).update(active_leases=F("active_leases") + 1)
        task.active_leases += 1
    return task


def _candidate_ids(task_id: int) -> list[int]:
    return list(TaskCandidate.objects.filter(task_id=task_id).order_by("position").values_list("candidate_id", flat=True))


@transaction.atomic
def _lease_next(*, user, project: Project | int, now) -> Assignment | None:
    project_id = project if isinstance(project, int) else project.pk
    # The membership row lock serialises one labeler's own requests (two tabs asking at once
    # get one lease), and nobody else's.
    try:
        membership = (Membership.objects.select_related("project").select_for_update(of=("self",))
                      .get(user=user, project_id=project_id))
    except Membership.DoesNotExist:
        if isinstance(project, int):
            raise Project.DoesNotExist("No such project for you.") from None
        raise PermissionDenied("You are not a member of this project.") from None
    project = membership.project
    if membership.is_paused:
        raise PermissionDenied(paused_message(membership.paused_reason))
    live = _live_lease(user=user, project=project, now=now)
    if live is not None:
        return live
    task = None
    if project.qualification_required and membership.qualification_status != QualificationStatus.PASSED:
        screening = _screening_gate(user=user, project=project, membership=membership)
        if screening is not None:
            # Gold tasks have no capacity to protect, so no row lock: every labeler may
            # take the same gold task at once.
            task = screening.first()
            if task is None:
                return None
    elif project.gold_rate > 0 and _rng.random() < project.gold_rate:
        task = _gold_pool(user=user, project=project, screening=False).first()
    if task is None:
        task = _pick_non_gold(user=user, project=project)
    if task is None:
        return None
    candidates = dict(TaskCandidate.objects.filter(task=task).order_by("position")
                      .values_list("candidate_id", "candidate__text"))
    assignment = Assignment.objects.create(
        task=task, labeler=user, project=project, state=AssignmentState.ACTIVE,
        leased_at=now, expires_at=now + timedelta(seconds=project.lease_seconds),
        shown_order=_shuffled(list(candidates)),
    )
    assignment.candidate_texts = candidates  # read by selectors.candidates_shown
    return assignment


def assignment_lock(*, user, assignment_id: int) -> Assignment:
    """The labeler's own assignment while they are an active member of its project, its task row
    and then its row locked (call inside a transaction); anyone else's is reported as not found,
    and a paused labeler is told so (PermissionDenied), except for an answer already submitted.

    While the labeler has not submitted the task, their membership row is locked first: the
    lease path and an admin's pause or removal lock in that order, and this write may decide
    their screening or pause them (the membership again). Once they have submitted it, nothing
    is written, and the submission completing the task may be pausing them (task, then
    membership), so the membership is only read."""
    # One join from the membership to the assignment (through its project and task), and the
    # submitted check on that same task: joins cost the ORM less to build than nested subqueries.
    submitted = Assignment.objects.filter(labeler=user, state=AssignmentState.SUBMITTED, task=OuterRef("project__tasks"))
    try:
        membership = (Membership.objects.select_for_update(of=("self",)).only("is_paused", "paused_reason")
                      .get(~Exists(submitted), user=user, project__tasks__assignments__pk=assignment_id,
                           project__tasks__assignments__labeler=user))
    except Membership.DoesNotExist:
        membership = None
    if membership is not None and membership.is_paused:
        raise PermissionDenied(paused_message(membership.paused_reason))
    own = Assignment.objects.filter(pk=assignment_id, labeler=user)
    if membership is None:
        # Submitted already, or not theirs to reach: the membership is checked with the read. A
        # paused labeler still hears back an answer they already submitted (a retry gets the stored one).
        own = own.filter(Q(project__memberships__is_paused=False) | Q(state=AssignmentState.SUBMITTED),
                         project__memberships__user=user)
    # Otherwise the locked membership is their active one in the assignment's project: no join needed.
    try:
        return own.select_related("task", "project").select_for_update(of=("task", "self")).get()
    except Assignment.DoesNotExist:
        refused = assignment_refused(user=user, assignment_id=assignment_id)
        if isinstance(refused, Http404):
            raise Assignment.DoesNotExist("No such assignment for you.") from None
        raise refused from None


def lease_check(*, assignment: Assignment, now=None) -> Assignment:
    """Precondition of every submission; returns the assignment the submission goes to.

    A live lease passes. An expired one (swept or not) passes when the task still needs a
    submission; otherwise the labeler is told so: their answer is refused, never dropped
    silently. If the labeler was leased the same task again meanwhile, the submission goes to
    that newer lease. Call inside a transaction holding the membership, task and assignment row
    locks (assignment_lock)."""
    now = now or timezone.now()
    if assignment.state == AssignmentState.SKIPPED:
        raise ValidationError("You skipped this task; it cannot be submitted.")
    if assignment.state == AssignmentState.ACTIVE:
        return assignment  # live, or expired but still counted in the task's active leases
    if assignment.state != AssignmentState.EXPIRED:
        raise ValidationError(f"This assignment is {assignment.state}.")
    newer = (Assignment.objects.select_for_update().filter(
        task_id=assignment.task_id, labeler_id=assignment.labeler_id, state__in=DONE_STATES)
        .exclude(pk=assignment.pk).first())
    if newer is not None:
        if newer.state == AssignmentState.SKIPPED:
            raise ValidationError("You skipped this task; it cannot be submitted.")
        return newer
    task = Task.objects.get(pk=assignment.task_id)
    if task.state != TaskState.OPEN or (
            not task.is_gold and task.submissions_count + task.active_leases >= task.submissions_required):
        raise ValidationError(
            "Your lease on this task expired and other labelers have since completed it, so your answer "
            "was not stored. Ask for the next task.")
    # The task still needs this answer: take the lease back for it.
    if not task.is_gold:
        Task.objects.filter(pk=task.pk).update(active_leases=F("active_leases") + 1)
    assignment.state = AssignmentState.ACTIVE
    assignment.save(update_fields=["state"])
    return assignment


def assignment_finish(*, assignment: Assignment, state: str, now=None, skip_reason: str = "",
                      task: Task | None = None) -> Task:
    """Close an active lease and update the task's counters. Call inside a transaction; pass
    `task` only if it was read after taking its row lock (e.g. by assignment_lock)."""
    now = now or timezone.now()
    if task is None:
        task = Task.objects.select_for_update().get(pk=assignment.task_id)
    assignment.state, assignment.finished_at, assignment.skip_reason = state, now, skip_reason
    assignment.save(update_fields=["state", "finished_at", "skip_reason"])
    counters = {}
    if not task.is_gold:
        counters["active_leases"] = F("active_leases") - 1
        task.active_leases -= 1
    if state == AssignmentState.SUBMITTED:
        counters["submissions_count"] = F("submissions_count") + 1
        task.submissions_count += 1
        if not task.is_gold and task.submissions_count >= task.submissions_required:
            counters["state"] = task.state = TaskState.COMPLETE
    if counters:
        Task.objects.filter(pk=task.pk).update(**counters)
    return task


@transaction.atomic
def lease_renew(*, user, assignment_id: int, now=None) -> Assignment:
    """Extend the labeler's lease by the project's lease time from now: the workspace calls this
    while its tab is visible, so a long answer does not lose its task. A lease that expired
    meanwhile is taken back if the task still needs an answer (lease_check); otherwise the
    labeler is told now, not at submit time."""
    now = now or timezone.now()
    assignment = assignment_lock(user=user, assignment_id=assignment_id)
    if assignment.state in (AssignmentState.SUBMITTED, AssignmentState.SKIPPED):
        raise ValidationError(f"This task was already {assignment.state}; there is no lease to renew.")
    if assignment.state != AssignmentState.ACTIVE:
        assignment = lease_check(assignment=assignment, now=now)
        if assignment.state != AssignmentState.ACTIVE:
            raise ValidationError(f"This task was already {assignment.state}; there is no lease to renew.")
    assignment.expires_at = now + timedelta(seconds=assignment.project.lease_seconds)
    assignment.save(update_fields=["expires_at"])
    return assignment


@transaction.atomic
def assignment_skip(*, user, assignment_id: int, reason: str) -> Assignment:
    """Give the task back with a reason; it is never offered to this labeler again. An expired
    lease can be skipped too (so the task is not offered again)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why you skip this task.")
    assignment = assignment_lock(user=user, assignment_id=assignment_id)
    if assignment.state == AssignmentState.SKIPPED:
        return assignment
    if assignment.state == AssignmentState.SUBMITTED:
        raise ValidationError("This task was already submitted; it cannot be skipped.")
    now = timezone.now()
    if assignment.state == AssignmentState.EXPIRED:
        if Assignment.objects.filter(task_id=assignment.task_id, labeler=user, state__in=DONE_STATES).exists():
            raise ValidationError("You hold a newer lease on this task; skip that one.")
        assignment.state, assignment.finished_at, assignment.skip_reason = AssignmentState.SKIPPED, now, reason[:2000]
        assignment.save(update_fields=["state", "finished_at", "skip_reason"])
    else:
        assignment_finish(assignment=assignment, state=AssignmentState.SKIPPED, now=now, skip_reason=reason[:2000])
    if assignment.task.is_screening:
        registry.screening_done(project=assignment.project, user=user)
    return assignment
