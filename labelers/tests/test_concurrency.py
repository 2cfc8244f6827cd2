"""64 labelers in real threads on real PostgreSQL, each with its own connection, hammer
next-task + submit on 200 tasks with overlap 3 until no work is left."""
import random
import threading
import time
from collections import Counter

import pytest
from django.db import connection, connections, transaction

from annotate.models import Assignment, AssignmentState, Membership, Ranking, Task, TaskCandidate, TaskState
from annotate.services.assignments import assignment_skip, task_next_for_labeler
from annotate.services.submissions import RankingInput, ranking_submit
from labelers.services import membership_set

N_LABELERS, N_TASKS, OVERLAP = 64, 200, 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_64_labelers_complete_200_tasks_with_overlap_3(project, make_user, make_ranking_task):
    project.submissions_required = OVERLAP
    project.gold_rate = 0
    project.save()
    tasks = [make_ranking_task(k=4, submissions_required=OVERLAP) for _ in range(N_TASKS)]
    users = []
    for i in range(N_LABELERS):
        user = make_user(f"crowd{i}")
        membership_set(project=project, user=user)
        users.append(user)

    returned, skipped, errors, violations, snapshots = [], [], [], [], []
    lock = threading.Lock()
    start = threading.Barrier(N_LABELERS + 1)
    done = threading.Event()

    def labeler(user, seed):
        rng = random.Random(seed)
        try:
            start.wait()
            while True:
                assignment = task_next_for_labeler(user=user, project=project)
                if assignment is None:
                    break
                if rng.random() < 0.05:
                    assignment_skip(user=user, assignment_id=assignment.pk, reason="not my language")
                    with lock:
                        skipped.append((assignment.task_id, user.pk))
                    continue
                order = list(assignment.shown_order)
                rng.shuffle(order)
                data = RankingInput(tiers=[[c] for c in order], time_on_task_ms=1000)
                ranking = ranking_submit(user=user, assignment_id=assignment.pk, data=data)
                if rng.random() < 0.1:  # a double click: the same answer again
                    again = ranking_submit(user=user, assignment_id=assignment.pk, data=data)
                    assert again.pk == ranking.pk
                with lock:
                    returned.append((ranking.pk, ranking.task_id, user.pk))
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            with lock:
                errors.append(repr(exc))
        finally:
            connection.close()

    def monitor():
        # While the crowd works: never more leases out on a task than it still needs.
        try:
            while not done.is_set():
                with transaction.atomic():
                    _snapshot_check(project, violations)
                snapshots.append(1)
                done.wait(0.2)
        finally:
            connection.close()

    threads = [threading.Thread(target=labeler, args=(u, i)) for i, u in enumerate(users)]
    watcher = threading.Thread(target=monitor)
    for t in threads:
        t.start()
    watcher.start()
    start.wait()
    for t in threads:
        t.join(timeout=120)
    done.set()
    watcher.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a labeler thread hung"
    assert errors == []
    assert violations == [] and len(snapshots) >= 3

    per_task = Counter(Ranking.objects.filter(task__project=project).values_list("task_id", flat=True))
    assert len(per_task) == N_TASKS and set(per_task.values()) == {OVERLAP}
    assert Task.objects.filter(project=project, state=TaskState.COMPLETE, submissions_count=OVERLAP,
                               active_leases=0).count() == N_TASKS
    pairs = list(Ranking.objects.filter(task__project=project).values_list("task_id", "labeler_id"))
    assert len(pairs) == len(set(pairs)), "a labeler submitted a task twice"
    # No submission lost: every answer a labeler was told was stored is in the database, and
    # nothing else is.
    stored = set(Ranking.objects.filter(task__project=project).values_list("pk", "task_id", "labeler_id"))
    assert stored == set(returned) and len(returned) == N_TASKS * OVERLAP
    assert not set(skipped) & {(t, u) for _, t, u in returned}, "a skipped task came back"
    assert not Assignment.objects.filter(project=project, state=AssignmentState.ACTIVE).exists()
    assert len(tasks) == N_TASKS
    connections.close_all()


def _snapshot_check(project, violations):
    """One consistent snapshot (REPEATABLE READ) of counters, live leases and rankings."""
    with connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    for t in Task.objects.filter(project=project).values(
            "pk", "submissions_required", "submissions_count", "active_leases"):
        if t["submissions_count"] + t["active_leases"] > t["submissions_required"]:
            violations.append(t)
    live = Counter(Assignment.objects.filter(project=project, state=AssignmentState.ACTIVE)
                   .values_list("task_id", flat=True))
    counted = Counter(Ranking.objects.filter(task__project=project).values_list("task_id", flat=True))
    for task_id, n in live.items():
        if n + counted.get(task_id, 0) > OVERLAP:
            violations.append({"task": task_id, "live": n, "counted": counted.get(task_id, 0)})


@pytest.mark.django_db(transaction=True)
def test_threads_on_sqlite_take_turns_and_keep_the_invariants(project, make_user, make_ranking_task):
    """The embedded default: SQLite transactions start IMMEDIATE, so concurrent writers queue
    rather than interleave. 8 threads, 30 tasks, overlap 2 (on PostgreSQL the test above)."""
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite variant; PostgreSQL runs the 64-thread test")
    project.submissions_required = 2
    project.gold_rate = 0
    project.save()
    for _ in range(30):
        make_ranking_task(k=3, submissions_required=2)
    users = []
    for i in range(8):
        user = make_user(f"sq{i}")
        membership_set(project=project, user=user)
        users.append(user)
    returned, errors = [], []
    lock = threading.Lock()

    def labeler(user):
        try:
            while (assignment := task_next_for_labeler(user=user, project=project)) is not None:
                ranking = ranking_submit(user=user, assignment_id=assignment.pk,
                                         data=RankingInput(tiers=[[c] for c in assignment.shown_order]))
                with lock:
                    returned.append((ranking.pk, ranking.task_id, user.pk))
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            with lock:
                errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=labeler, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    per_task = Counter(Ranking.objects.filter(task__project=project).values_list("task_id", flat=True))
    assert len(per_task) == 30 and set(per_task.values()) == {2}
    stored = set(Ranking.objects.filter(task__project=project).values_list("pk", "task_id", "labeler_id"))
    assert stored == set(returned)
    assert len({(t, u) for _, t, u in returned}) == len(returned)


def _ask_next(user, project_id, got, errors):
    """A labeler's next-task call in its own thread and connection (the thread target)."""
    try:
        got.append(task_next_for_labeler(user=user, project=project_id))
    except Exception as exc:  # noqa: BLE001 - reported by the main thread
        errors.append(repr(exc))
    finally:
        connection.close()


def _lock_waiters(n: int, timeout: float = 20) -> int:
    """Wait (at most `timeout` s) until `n` backends of this database wait on a lock; the last
    count seen."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                           " AND datname = current_database()")
            waiting = cursor.fetchone()[0]
            if waiting == n or time.monotonic() >= deadline:
                return waiting
            time.sleep(0.02)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_tabs_asking_at_once_get_one_lease(project, make_user, make_ranking_task):
    """One labeler's two requests queue on their membership row; the second must see the lease
    the first took while it waited (its first statement's snapshot predates that lease)."""
    project.gold_rate = 0
    project.save()
    for _ in range(3):
        make_ranking_task(k=2)
    user = make_user("two-tabs")
    membership = membership_set(project=project, user=user)
    got, errors = [], []

    with transaction.atomic():  # this thread holds the membership row lock until both tabs wait
        Membership.objects.select_for_update().get(pk=membership.pk)
        tabs = [threading.Thread(target=_ask_next, args=(user, project.pk, got, errors)) for _ in range(2)]
        for t in tabs:
            t.start()
        waiting = _lock_waiters(2)
    for t in tabs:  # the lock is released, whether both waited or not
        t.join(timeout=30)
    assert waiting == 2, "both requests should have queued on the membership lock"
    assert errors == [] and len(got) == 2
    assert got[0].pk == got[1].pk
    assert Assignment.objects.filter(labeler=user, state=AssignmentState.ACTIVE).count() == 1
    connections.close_all()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_task_finished_while_the_next_call_waited_is_not_leased_again(project, make_user, make_ranking_task):
    """The one-statement next-task reads the live lease after the membership lock, but picks with
    the snapshot of its start. An expired lease answered late (or skipped) while the call waited
    looks open to that pick; the assignment's uniqueness refuses the second lease, and the call
    goes on through the transactional path instead of failing."""
    from datetime import timedelta

    from django.utils import timezone

    project.gold_rate = 0
    project.save()
    task = make_ranking_task(k=2, submissions_required=2)
    user = make_user("late")
    membership = membership_set(project=project, user=user)
    past = timezone.now() - timedelta(hours=2)
    old = Assignment.objects.create(task=task, labeler=user, project=project, state=AssignmentState.EXPIRED,
                                    leased_at=past, expires_at=past + timedelta(minutes=30),
                                    shown_order=task.candidate_ids())
    got, errors = [], []

    def late_answer():  # what an accepted late submission leaves: the old lease submitted
        try:
            Assignment.objects.filter(pk=old.pk).update(state=AssignmentState.SUBMITTED, finished_at=timezone.now())
        finally:
            connection.close()

    with transaction.atomic():  # this thread holds the membership row lock while the call waits
        Membership.objects.select_for_update().get(pk=membership.pk)
        waiting_tab = threading.Thread(target=_ask_next, args=(user, project.pk, got, errors))
        waiting_tab.start()
        waiting = _lock_waiters(1)
        writer = threading.Thread(target=late_answer)
        writer.start()
        writer.join(timeout=30)
    waiting_tab.join(timeout=30)
    assert waiting == 1, "the call should have queued on the membership lock"
    assert errors == [] and got == [None]  # the only task is this labeler's already
    assert Assignment.objects.filter(labeler=user).count() == 1
    connections.close_all()


def _wait_for_a_lock_wait(timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # a transaction sees one snapshot of it otherwise
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                           "AND datname = current_database()")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the other transaction never waited for a lock")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_removing_a_member_takes_the_task_lock_before_the_assignment(project, labeler, admin_user,
                                                                   make_ranking_task):
    """A submission locks the task, then the assignment; member_remove, handing the removed member's
    lease back, must lock in the same order, or the two deadlock (PostgreSQL aborts one)."""
    from labelers.services.members import member_remove

    make_ranking_task(k=2)
    assignment = task_next_for_labeler(user=labeler, project=project)
    task_locked, errors = threading.Event(), []

    def remove():
        try:
            task_locked.wait(10)
            member_remove(admin=admin_user, project=project, user=labeler)
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(repr(exc))
        finally:
            connection.close()

    remover = threading.Thread(target=remove)
    remover.start()
    with transaction.atomic():
        Task.objects.select_for_update().get(pk=assignment.task_id)  # a submission's first lock
        task_locked.set()
        _wait_for_a_lock_wait()  # the removal waits for this task
        Assignment.objects.select_for_update().get(pk=assignment.pk)  # and the submission's second
    remover.join(30)
    assert not remover.is_alive()
    assert errors == []
    assert not Membership.objects.filter(user=labeler, project=project).exists()
    assert Assignment.objects.get(pk=assignment.pk).state == AssignmentState.EXPIRED
    assert Task.objects.get(pk=assignment.task_id).active_leases == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pausing_a_member_while_their_screening_answer_is_scored_does_not_deadlock(project, labeler, admin_user,
                                                                                  make_ranking_task):
    """A submission that decides the labeler's screening (or pauses them) locks their membership;
    an admin's pause locks the membership and then the task of their lease. The submission must
    take the membership first too, or the two deadlock (PostgreSQL aborts one)."""
    from labelers.services.gold import task_mark_gold
    from labelers.services.members import member_pause

    membership_set(project=project, user=admin_user, role="admin")
    project.qualification_required = True
    project.save()
    task = make_ranking_task(k=2)
    a, b = TaskCandidate.objects.filter(task=task).order_by("position").values_list("candidate_id", flat=True)
    task_mark_gold(admin=admin_user, task_id=task.pk, gold_answer={"tiers": [[a], [b]]}, is_screening=True)
    assignment = task_next_for_labeler(user=labeler, project=project)
    assert assignment.task_id == task.pk
    errors = []

    def submit():
        try:
            ranking_submit(user=labeler, assignment_id=assignment.pk, data=RankingInput(tiers=[[a], [b]]))
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    with transaction.atomic():
        Membership.objects.select_for_update().get(project=project, user=labeler)  # the pause's first lock
        submitter = threading.Thread(target=submit)
        submitter.start()
        _wait_for_a_lock_wait()  # the submission waits for the membership
        member_pause(admin=admin_user, project=project, user=labeler, reason="checking")
    submitter.join(30)
    assert not submitter.is_alive()
    # The pause came first: the lease went back to the pool and the late answer is refused, with the reason.
    assert [type(e).__name__ for e in errors] == ["PermissionDenied"], errors
    assert "paused: checking" in str(errors[0])
    assert not Ranking.objects.filter(assignment=assignment).exists()
    assert Assignment.objects.get(pk=assignment.pk).state == AssignmentState.EXPIRED
    assert Task.objects.get(pk=task.pk).active_leases == 0
    connections.close_all()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_retry_of_a_submitted_answer_does_not_deadlock_with_the_submission_that_completes_its_task(
        project, labeler, make_ranking_task):
    """The submission that completes a task pauses, holding the task lock, any of its labelers whose
    agreement fell (their membership lock). A retry of one of those labelers' stored answers must not
    hold their membership while it waits for that task, or the two deadlock."""
    from labelers.services.quality import membership_pause

    task = make_ranking_task(k=2, submissions_required=2)
    assignment = task_next_for_labeler(user=labeler, project=project)
    data = RankingInput(tiers=[[c] for c in assignment.shown_order])
    first = ranking_submit(user=labeler, assignment_id=assignment.pk, data=data)
    errors, again = [], []

    def retry():
        try:
            again.append(ranking_submit(user=labeler, assignment_id=assignment.pk, data=data))
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    with transaction.atomic():
        Task.objects.select_for_update().get(pk=task.pk)  # another labeler's submission completing the task
        retrier = threading.Thread(target=retry)
        retrier.start()
        _wait_for_a_lock_wait()  # the retry waits for the task
        membership_pause(project=project, user=labeler, kind="paused_agreement", reason="agreement fell")
    retrier.join(30)
    assert not retrier.is_alive()
    assert errors == []
    assert [r.pk for r in again] == [first.pk]  # the stored answer, once
    assert Ranking.objects.filter(task=task).count() == 1
    connections.close_all()
