"""Job integrity under faults: a heartbeat that survives a dropped connection, fenced claims,
a log that keeps what others appended, an outbox for messages the broker never took, and
status writes that reconnect."""
import threading
import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from jobs import registry
from jobs.models import Job, JobStatus
from jobs.services import JobContext, job_create, job_retry, job_run, jobs_sweep, lifecycle, run


def _running(job, attempts=1):
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, heartbeat_at=timezone.now(), attempts=attempts)
    job.refresh_from_db()
    return job


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_survives_a_database_error_and_keeps_beating(settings, monkeypatch):
    settings.JOB_HEARTBEAT_INTERVAL = 0.05
    job = _running(job_create(kind="noop", enqueue=False))
    calls = {"n": 0}
    real = run._beat

    def flaky(job_id, attempt):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(job_id, attempt)

    monkeypatch.setattr(run, "_beat", flaky)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    stop, lost = threading.Event(), threading.Event()
    beat = threading.Thread(target=run._heartbeat_loop, args=(job.pk, 1, stop, lost))
    beat.start()
    deadline = time.time() + 10
    while calls["n"] < 3 and time.time() < deadline:
        time.sleep(0.05)
    stop.set()
    beat.join(5)
    assert calls["n"] >= 3 and not lost.is_set()
    assert Job.objects.get(pk=job.pk).heartbeat_at > timezone.now() - timedelta(seconds=5)


def taken_over(job, ctx):
    """A handler during which another run claims the job (what a second worker does after the
    sweeper re-queued it), then reports progress."""
    Job.objects.filter(pk=job.pk).update(attempts=job.attempts + 1)
    ctx.log("started")
    ctx.progress(0.5, "half way")
    ctx.log("went on")
    return {"winner": "first"}


@pytest.mark.django_db
def test_a_run_whose_claim_was_taken_over_stops_and_writes_nothing(monkeypatch):
    monkeypatch.setitem(registry.JOB_KINDS, "noop", registry.JobSpec(handler=f"{__name__}.taken_over"))
    job = job_create(kind="noop", enqueue=False)
    assert job_run(job_id=job.pk) is None
    after = Job.objects.get(pk=job.pk)
    assert after.status == JobStatus.RUNNING and after.result == {} and after.attempts == 2
    assert after.progress == 0.0 and after.finished_at is None and after.log_tail == ""


@pytest.mark.django_db
def test_a_run_inside_a_transaction_leaves_no_heartbeat_thread_behind(settings):
    """Inside the caller's transaction (a test's, a request's) another connection cannot see the claim:
    a heartbeat thread would wait on the row's lock past the run's end, still touching the database."""
    settings.JOB_HEARTBEAT_INTERVAL = 0.05
    job = job_create(kind="noop", params={"steps": 1, "sleep": 0.5}, enqueue=False)
    before = set(threading.enumerate())
    started = time.monotonic()
    assert job_run(job_id=job.pk).status == JobStatus.SUCCEEDED
    assert time.monotonic() - started < 3, "the run waited for a heartbeat thread stuck on the row"
    assert not [t for t in threading.enumerate() if t not in before and t.is_alive()]


@pytest.mark.django_db
def test_the_log_appends_so_a_note_written_meanwhile_is_kept():
    job = _running(job_create(kind="noop", enqueue=False))
    ctx = JobContext(job)
    ctx.log("first line")
    noted = Job.objects.get(pk=job.pk)  # what the sweeper writes while the run goes on
    noted.log_tail += "\nworker lost (no heartbeat for 130s); re-queued"
    noted.save(update_fields=["log_tail"])
    ctx.log("second line")
    assert Job.objects.get(pk=job.pk).log_tail.splitlines() == [
        "first line", "worker lost (no heartbeat for 130s); re-queued", "second line"]


@pytest.mark.django_db
def test_the_log_keeps_its_last_characters():
    job = _running(job_create(kind="noop", enqueue=False))
    ctx = JobContext(job)
    for i in range(300):
        ctx.log(f"line {i:03d} " + "x" * 40)
    tail = Job.objects.get(pk=job.pk).log_tail
    assert len(tail) == run.LOG_TAIL_CHARS and tail.endswith("line 299 " + "x" * 40)


@pytest.mark.django_db(transaction=True)
def test_a_status_write_reconnects_after_a_dropped_connection(monkeypatch):
    job = _running(job_create(kind="noop", enqueue=False))
    ctx = JobContext(job)
    real = run.Job.objects.filter
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("terminating connection due to administrator command")
        return real(*args, **kwargs)

    monkeypatch.setattr(run.Job.objects, "filter", flaky)
    ctx.progress(0.25, "a quarter")
    monkeypatch.undo()
    assert Job.objects.get(pk=job.pk).progress == 0.25 and calls["n"] >= 2


def _broker_down(monkeypatch):
    from kombu.exceptions import OperationalError as BrokerError

    from jobs.tasks import run_job

    def refuse(*args, **kwargs):
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(run_job, "apply_async", refuse)


@pytest.mark.django_db(transaction=True)
def test_a_job_made_while_the_broker_is_down_is_sent_by_the_sweeper(monkeypatch, settings):
    settings.JOB_SEND_GRACE = 0
    _broker_down(monkeypatch)
    with pytest.raises(lifecycle.JobQueueUnavailable, match="is saved, but the task queue is unreachable"):
        job_create(kind="noop")
    job = Job.objects.get()
    assert job.status == JobStatus.QUEUED and job.sent_at is None
    assert jobs_sweep()["resent"] == 0  # still down
    monkeypatch.undo()
    sent = []
    from jobs.tasks import run_job

    monkeypatch.setattr(run_job, "apply_async", lambda *a, **k: sent.append(k["args"]) or type("R", (), {"id": "t-1"})())
    assert jobs_sweep()["resent"] == 1 and sent == [[job.pk]]
    job.refresh_from_db()
    assert job.sent_at is not None and job.celery_task_id == "t-1"
    assert jobs_sweep()["resent"] == 0


@pytest.mark.django_db
def test_retry_sends_a_stale_queued_job_again(settings, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    from jobs.tasks import run_job

    monkeypatch.setattr(run_job, "apply_async", lambda *a, **k: sent.append(k["args"]) or type("R", (), {"id": "t"})())
    job = job_create(kind="noop", enqueue=False)
    old = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT + 60)
    Job.objects.filter(pk=job.pk).update(sent_at=old, queued_at=old)
    with django_capture_on_commit_callbacks(execute=True):
        job = job_retry(job=job)
    assert job.status == JobStatus.QUEUED and sent == [[job.pk]]
    fresh = job_create(kind="noop", enqueue=False)
    Job.objects.filter(pk=fresh.pk).update(sent_at=timezone.now())
    with pytest.raises(ValueError, match="queued jobs no worker took"):
        job_retry(job=Job.objects.get(pk=fresh.pk))


@pytest.mark.django_db(transaction=True)
def test_the_api_answers_503_with_a_sentence_when_the_broker_is_down(client, admin_user, project, monkeypatch):
    _broker_down(monkeypatch)
    client.force_login(admin_user)
    response = client.post(f"/api/projects/{project.pk}/exports/", {"options": {"formats": ["preference"]}},
                           content_type="application/json")
    assert response.status_code == 503, response.content
    assert "task queue is unreachable" in response.json()["detail"]
    assert Job.objects.get(kind="export").sent_at is None


@pytest.mark.django_db(transaction=True)
def test_the_retry_button_says_the_job_waits_for_the_queue_when_the_broker_is_down(client, admin_user, broker_down):
    job = job_create(kind="noop", enqueue=False)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, error="boom")
    client.force_login(admin_user)
    response = client.post(f"/jobs/{job.pk}/retry/", follow=True)
    assert response.status_code == 200 and response.redirect_chain[-1][0] == f"/jobs/{job.pk}/"
    page = response.content.decode()
    assert page.count(f"Job {job.pk} is saved, but the task queue is unreachable") == 1, page
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.sent_at is None


def _hold_heartbeat_timeout(settings):
    settings.JOB_HEARTBEAT_INTERVAL = 0.2
    settings.JOB_HEARTBEAT_TIMEOUT = 2


@pytest.mark.django_db(transaction=True)
def test_a_handler_that_blocks_longer_than_the_timeout_is_not_swept(settings, monkeypatch):
    """A training job's preparation (a model load, a tokenisation) reports nothing for a while:
    the heartbeat thread keeps its row fresh."""
    _hold_heartbeat_timeout(settings)
    job = job_create(kind="noop", params={"steps": 1, "sleep": 3}, enqueue=False)
    done = {}
    worker = threading.Thread(target=lambda: done.setdefault("job", job_run(job_id=job.pk)))
    worker.start()
    sweeps = []
    while worker.is_alive():
        sweeps.append(jobs_sweep())
        time.sleep(0.3)
    worker.join()
    connection.close()
    assert all(s["requeued"] == 0 and s["failed"] == 0 for s in sweeps)
    assert done["job"].status == JobStatus.SUCCEEDED and done["job"].attempts == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_killing_the_jobs_connections_mid_run_gives_one_run_and_one_result(settings):
    """pg_terminate_backend on every connection of the running job (its heartbeat's and its
    handler's) while the sweeper runs as beat would, and a second worker stands ready to take
    whatever the sweeper re-queues: the job runs once, succeeds once, costs no extra attempt."""
    _hold_heartbeat_timeout(settings)
    job = job_create(kind="noop", params={"steps": 20, "sleep": 0.25}, enqueue=False)
    runs = []

    def worker():
        runs.append(job_run(job_id=job.pk))
        connection.close()

    first = threading.Thread(target=worker)
    first.start()
    deadline = time.time() + 30
    while Job.objects.get(pk=job.pk).progress < 0.2 and time.time() < deadline:
        time.sleep(0.05)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    threads = [first]
    while any(t.is_alive() for t in threads) and time.time() < deadline + 30:
        if jobs_sweep()["requeued"]:
            threads.append(threading.Thread(target=worker))
            threads[-1].start()
        time.sleep(0.3)
    for t in threads:
        t.join(30)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 1, job.log_tail
    assert len(threads) == 1 and [r.status for r in runs if r] == [JobStatus.SUCCEEDED]
    assert job.log_tail.count("done after 20 steps") == 1
