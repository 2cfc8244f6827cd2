"""Handing out work: leases on tasks.

Counters on Task (submissions_count, active_leases) change only under the task's row lock,
so `submissions_count + active_leases <= submissions_required` always holds for real tasks.
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

import json
import random
import time
from contextlib import nullcontext
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, Model, OuterRef
from django.utils import timezone

from annotate.models import Assignment, AssignmentState, Project, Prompt, Task, TaskState
from config.rows import joined_columns, row_insert, row_objects, row_update, sql_rows
from labelers.models import Membership, QualificationStatus

DONE_STATES = (AssignmentState.ACTIVE, AssignmentState.SUBMITTED, AssignmentState.SKIPPED)
_rng = random.SystemRandom()


def _membership(*, user, project: Project, lock: bool = False) -> Membership:
    qs = Membership.objects.select_for_update() if lock else Membership.objects
    membership = qs.filter(user=user, project=project).first()
    if membership is None:
        raise PermissionDenied("You are not a member of this project.")
    return membership


def leases_expire(*, project: Project | int | None = None, now=None) -> int:
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
    _rng.shuffle(order)
    return order


def _not_done_by(user):
    return ~Exists(Assignment.objects.filter(task=OuterRef("pk"), labeler=user, state__in=DONE_STATES))


def _gold_pool(*, user, project: Project, screening: bool):
    pool = Task.objects.filter(project=project, is_gold=True, state=TaskState.OPEN).filter(_not_done_by(user))
    if screening:
        pool = pool.filter(is_screening=True)
    # Random order: a gold task must not be recognisable by when it comes.
    return pool.order_by("?")


def _screening_gate(*, user, project: Project, membership: Membership):
    """While a project requires qualification, a labeler who has not passed gets only screening
    tasks; returns the pool to draw from, or raises with the reason there is none."""
    from labelers.services.quality import qualification_evaluate

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
    status = qualification_evaluate(project=project, user=user)
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


# The hot path of every next-task and submit request is written in SQL: compiling the ORM's
# queries (an Exists subquery, F expressions, joins) cost more CPU than PostgreSQL spent
# running them (bench/labeler_load.py: 4.2 ms of Python per next-task call before, see
# docs/benchmarks.md). Same statements on PostgreSQL and SQLite, except the row locks and, on
# PostgreSQL, the common next-task call in one statement (_lease_real_at_once, with the function
# annotate_lease_gate of migration 0004) and a ranking inserted with the statement that closes its
# lease.

def _lock_clause(of: str = "", skip_locked: bool = False) -> str:
    if not connection.features.has_select_for_update:
        return ""  # SQLite: IMMEDIATE transactions already serialise writers
    clause = " FOR UPDATE"
    if of and connection.features.has_select_for_update_of:
        clause += f" OF {of}"
    if skip_locked and connection.features.has_select_for_update_skip_locked:
        clause += " SKIP LOCKED"
    return clause


def _member(*, user, project_id: int) -> Project | None:
    """The project, with its labeler's membership as attributes (`m_is_paused`, `m_paused_reason`,
    `m_qualification_status`), or None for a non-member. Locks the membership row: that lock
    serialises one labeler's own requests (two tabs asking at once get one lease), and nobody
    else's. What the labeler holds is read by the next statement, not this one: a statement that
    waited for the lock still sees the database as it was when it started (READ COMMITTED), so
    it would miss the lease the transaction it waited for had just taken."""
    rows = row_objects(Project, (
        "SELECT p.*, m.is_paused AS m_is_paused, m.paused_reason AS m_paused_reason,"
        " m.qualification_status AS m_qualification_status"
        " FROM labelers_membership m JOIN annotate_project p ON p.id = m.project_id"
        " WHERE m.user_id = %s AND m.project_id = %s" + _lock_clause("m")),
        [user.pk, project_id])
    return rows[0] if rows else None


LIVE_LEASE = (
    "SELECT a.id FROM annotate_assignment a WHERE a.labeler_id = %s AND a.project_id = %s"
    " AND a.state = 'active' AND a.expires_at > %s ORDER BY a.leased_at LIMIT 1"
)


def _live_lease(*, user, project_id: int, now) -> Assignment | None:
    """The labeler's live lease in the project, if any (read after the membership lock)."""
    rows = sql_rows(LIVE_LEASE, [user.pk, project_id, connection.ops.adapt_datetimefield_value(now)])
    if not rows:
        return None
    return Assignment.objects.select_related("task", "project").get(pk=rows[0][0])


PICK_REAL = (
    "SELECT t.id FROM annotate_task t"
    " WHERE t.project_id = %s AND t.state = 'open' AND NOT t.is_gold"
    " AND t.submissions_required > t.submissions_count + t.active_leases"
    " AND NOT EXISTS (SELECT 1 FROM annotate_assignment a WHERE a.task_id = t.id AND a.labeler_id = %s"
    "  AND a.state IN ('active', 'submitted', 'skipped'))"
    " ORDER BY t.priority DESC, t.submissions_count DESC, t.id LIMIT 1"
)


def _pick_real(*, user, project: Project) -> Task | None:
    """The open real task closest to completion (after priority) this labeler has not had,
    locked and its lease counted, in one statement; rows other labelers hold are skipped
    (PostgreSQL)."""
    found = row_objects(Task, "UPDATE annotate_task SET active_leases = active_leases + 1 WHERE id = ("
                        + PICK_REAL + _lock_clause("t", skip_locked=True) + ") RETURNING *", [project.pk, user.pk])
    return found[0] if found else None


def task_candidates(task: Task) -> list[tuple[int, str]]:
    """(id, text) of a task's candidates, in task position order; the task's prompt comes with
    them (one statement less per lease)."""
    rows = sql_rows("SELECT c.id, c.text, p.conversation FROM annotate_taskcandidate tc JOIN annotate_candidate c"
                    " ON c.id = tc.candidate_id JOIN annotate_prompt p ON p.id = %s WHERE tc.task_id = %s"
                    " ORDER BY tc.position", [task.prompt_id, task.pk])
    if rows and not Task.prompt.is_cached(task):
        conversation = rows[0][2]
        task.prompt = Prompt.from_db(connection.alias, ["id", "conversation"], [
            task.prompt_id, json.loads(conversation) if isinstance(conversation, str) else conversation])
    return [(cid, text) for cid, text, _ in rows]


def _candidate_ids(task_id: int) -> list[int]:
    return [r[0] for r in sql_rows("SELECT candidate_id FROM annotate_taskcandidate WHERE task_id = %s"
                               " ORDER BY position", [task_id])]


def _lease_next(*, user, project: Project | int, now) -> Assignment | None:
    project_id = project if isinstance(project, int) else project.pk
    roll = _rng.random()  # below the project's gold_rate: a gold task this time
    if connection.vendor == "postgresql":
        try:
            # Inside a caller's transaction, a savepoint keeps it usable should the statement fail.
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                passed, assignment = _lease_real_at_once(user=user, project_id=project_id, now=now, roll=roll)
        except IntegrityError as exc:
            # Its pick sees the labeler's assignments as of the statement's start: if the call
            # waited for the membership lock and a task they answered late or skipped meanwhile
            # looks new to it, the assignment's uniqueness stops it. Any other violation is a bug.
            if getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) != "assignment_once_per_labeler":
                raise
            passed = False
        if passed:
            return assignment  # a real task, or None: no work (the labeler holds no live lease)
        # Not a member, paused, before qualification, a gold task, a live lease, or the above: the
        # transactional path, whose statements start after the lock.
    with transaction.atomic():
        member = _member(user=user, project_id=project_id)
        if member is None:
            if isinstance(project, int):
                raise Project.DoesNotExist("No such project for you.")
            raise PermissionDenied("You are not a member of this project.")
        project = member  # read with the membership, under its lock
        if member.m_is_paused:
            raise PermissionDenied(f"Your work on this project is paused: {member.m_paused_reason or 'ask an admin'}.")
        gated = project.qualification_required and member.m_qualification_status != QualificationStatus.PASSED
        gold = not gated and project.gold_rate > 0 and roll < project.gold_rate
        live = _live_lease(user=user, project_id=project.pk, now=now)
        if live is not None:
            return live
        task = None
        if gated:
            membership = _membership(user=user, project=project)
            screening = _screening_gate(user=user, project=project, membership=membership)
            if screening is not None:
                # Gold tasks have no capacity to protect, so no row lock: every labeler may
                # take the same gold task at once.
                task = screening.first()
                if task is None:
                    return None
        if task is None and gold:
            task = _gold_pool(user=user, project=project, screening=False).first()
        if task is None:
            task = _pick_real(user=user, project=project)  # its lease is counted
        if task is None:
            return None
        candidates = task_candidates(task)
        assignment = row_insert(Assignment(
            task=task, labeler=user, project=project, state=AssignmentState.ACTIVE,
            leased_at=now, expires_at=now + timedelta(seconds=project.lease_seconds),
            shown_order=_shuffled([cid for cid, _ in candidates]),
        ))
        assignment.candidate_texts = dict(candidates)  # read by selectors.candidates_shown
        return assignment


LEASE_COLUMNS = ("task_id", "labeler_id", "project_id", "state", "leased_at", "expires_at", "finished_at",
                 "skip_reason", "shown_order")


def _lease_real_at_once(*, user, project_id: int, now, roll: float) -> tuple[bool, Assignment | None]:
    """PostgreSQL: the common next-task call in one statement, outside any transaction.

    The function annotate_lease_gate (migration 0004) takes the labeler's membership row lock
    and passes only a labeler who may get a real task now (a member, not paused, qualified if
    asked, not drawn for gold: `roll` >= the project's gold_rate) and holds no live lease; it
    reads the live lease with a statement of its own, after the lock (a statement that waited
    for a lock still sees the database as it was when it started, and would miss the lease
    taken by the call it waited for). Then the statement picks the next real task (as
    _pick_real, FOR UPDATE SKIP LOCKED), counts its lease, inserts the assignment with its
    candidates in a random order, and returns the task, its project, its prompt and its
    candidates' texts. Returns (passed, assignment): (True, None) is no work; (False, None)
    leaves the call to the transactional path (_lease_next). Before, the same took BEGIN, the
    membership lock, this statement and COMMIT: four round trips (docs/benchmarks.md). The
    INSERT's columns are written out (LEASE_COLUMNS; a test holds them to the model's fields,
    so a new Assignment field cannot be left to a database default)."""
    ops = connection.ops
    rows = row_objects(Task, (
        "WITH gate AS MATERIALIZED (SELECT annotate_lease_gate(%s::bigint, %s::bigint, %s::timestamptz, %s::float8) AS ok),"
        " picked AS (UPDATE annotate_task SET active_leases = active_leases + 1 WHERE id = ("
        + PICK_REAL.replace(" ORDER BY", " AND (SELECT ok FROM gate) ORDER BY")
        + _lock_clause("t", skip_locked=True) + ") RETURNING *),"
        " cand AS (SELECT tc.position, c.id, c.text FROM annotate_taskcandidate tc"
        "  JOIN annotate_candidate c ON c.id = tc.candidate_id WHERE tc.task_id = (SELECT id FROM picked)),"
        f" ins AS (INSERT INTO annotate_assignment ({', '.join(LEASE_COLUMNS)})"
        "  SELECT picked.id, %s, picked.project_id, 'active', %s,"
        "  %s::timestamptz + make_interval(secs => pj.lease_seconds), NULL, '',"
        "  COALESCE((SELECT jsonb_agg(cand.id ORDER BY random()) FROM cand), '[]'::jsonb)"
        "  FROM picked JOIN annotate_project pj ON pj.id = picked.project_id"
        "  RETURNING id, shown_order)"
        " SELECT gate.ok AS g_ok, picked.*, ins.id AS a_id, ins.shown_order AS a_shown_order,"
        " pr.conversation AS p_conversation,"
        " ARRAY(SELECT cand.id FROM cand ORDER BY cand.position) AS c_ids,"
        " ARRAY(SELECT cand.text FROM cand ORDER BY cand.position) AS c_texts, "
        + joined_columns(Project, "p", "project")
        + " FROM gate LEFT JOIN picked ON true LEFT JOIN ins ON true"
        " LEFT JOIN annotate_prompt pr ON pr.id = picked.prompt_id LEFT JOIN annotate_project p ON p.id = picked.project_id"),
        [user.pk, project_id, ops.adapt_datetimefield_value(now), roll, project_id, user.pk,
         user.pk, ops.adapt_datetimefield_value(now), ops.adapt_datetimefield_value(now)],
        joined={"project": Project})
    row = rows[0]
    if not row.g_ok or row.a_id is None:
        return bool(row.g_ok), None
    task, project, shown, conversation = row, row.project, row.a_shown_order, row.p_conversation
    task.prompt = Prompt.from_db(connection.alias, ["id", "conversation"], [
        task.prompt_id, json.loads(conversation) if isinstance(conversation, str) else conversation])
    assignment = Assignment(
        id=row.a_id, task=task, labeler=user, project=project, state=AssignmentState.ACTIVE, leased_at=now,
        expires_at=now + timedelta(seconds=project.lease_seconds), finished_at=None, skip_reason="",
        shown_order=json.loads(shown) if isinstance(shown, str) else shown)
    assignment._state.adding, assignment._state.db = False, connection.alias
    assignment.candidate_texts = dict(zip(task.c_ids, task.c_texts, strict=True))  # for candidates_shown
    return True, assignment


def assignment_for_user(*, user, assignment_id: int, lock: bool = False) -> Assignment:
    """The labeler's own assignment; anyone else's is reported as not found. With lock, the
    task row and then the assignment row are locked (call inside a transaction)."""
    qs = Assignment.objects.select_related("task", "project")
    if lock:
        # One statement: the task row, then the assignment row, are locked (in that order, as
        # listed after OF), and the project comes along.
        found = row_objects(Assignment, (
            f"SELECT a.*, {joined_columns(Task, 't', 'task')}, {joined_columns(Project, 'p', 'project')}"
            " FROM annotate_assignment a JOIN annotate_task t ON t.id = a.task_id"
            " JOIN annotate_project p ON p.id = a.project_id WHERE a.id = %s AND a.labeler_id = %s"
            + _lock_clause("t, a")), [assignment_id, user.pk], joined={"task": Task, "project": Project})
        if not found:
            raise Assignment.DoesNotExist("No such assignment for you.")
        return found[0]
    assignment = qs.filter(pk=assignment_id, labeler=user).first()
    if assignment is None:
        raise Assignment.DoesNotExist("No such assignment for you.")
    return assignment


def lease_check(*, assignment: Assignment, now=None) -> Assignment:
    """Precondition of every submission; returns the assignment the submission goes to.

    A live lease passes. An expired one (swept or not) passes when the task still needs a
    submission; otherwise the labeler is told so: their answer is refused, never dropped
    silently. If the labeler was leased the same task again meanwhile, the submission goes to
    that newer lease. Call inside a transaction holding the task and assignment row locks."""
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
                      task: Task | None = None, insert: Model | None = None) -> Task:
    """Close an active lease and update the task's counters. Call inside a transaction; pass
    `task` only if it was read after taking its row lock (e.g. by assignment_for_user). The
    submission itself may come as `insert`: it is inserted with the same statement (PostgreSQL)."""
    now = now or timezone.now()
    if task is None:
        task = Task.objects.select_for_update().get(pk=assignment.task_id)
    assignment.state, assignment.finished_at, assignment.skip_reason = state, now, skip_reason
    fields = []
    if not task.is_gold:
        task.active_leases = max(0, task.active_leases - 1)
        fields.append("active_leases")
    if state == AssignmentState.SUBMITTED:
        task.submissions_count += 1
        fields.append("submissions_count")
        if not task.is_gold and task.submissions_count >= task.submissions_required:
            task.state = TaskState.COMPLETE
            fields.append("state")
    if insert is not None:
        row_insert(insert, (assignment, ["state", "finished_at", "skip_reason"]), (task, fields))
    else:
        row_update(assignment, ["state", "finished_at", "skip_reason"], (task, fields))
    return task


@transaction.atomic
def lease_renew(*, user, assignment_id: int, now=None) -> Assignment:
    """Extend the labeler's lease by the project's lease time from now: the workspace calls this
    while its tab is visible, so a long answer does not lose its task. A lease that expired
    meanwhile is taken back if the task still needs an answer (lease_check); otherwise the
    labeler is told now, not at submit time."""
    now = now or timezone.now()
    assignment = assignment_for_user(user=user, assignment_id=assignment_id, lock=True)
    if assignment.state in (AssignmentState.SUBMITTED, AssignmentState.SKIPPED):
        raise ValidationError(f"This task was already {assignment.state}; there is no lease to renew.")
    if assignment.state != AssignmentState.ACTIVE:
        assignment = lease_check(assignment=assignment, now=now)
        if assignment.state != AssignmentState.ACTIVE:
            raise ValidationError(f"This task was already {assignment.state}; there is no lease to renew.")
    assignment.expires_at = now + timedelta(seconds=assignment.project.lease_seconds)
    row_update(assignment, ["expires_at"])
    return assignment


@transaction.atomic
def assignment_skip(*, user, assignment_id: int, reason: str) -> Assignment:
    """Give the task back with a reason; it is never offered to this labeler again. An expired
    lease can be skipped too (so the task is not offered again)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why you skip this task.")
    assignment = assignment_for_user(user=user, assignment_id=assignment_id, lock=True)
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
        from labelers.services.quality import qualification_maybe_decide

        qualification_maybe_decide(project=assignment.project, user=user)
    return assignment
