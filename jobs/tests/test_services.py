"""The job framework in-process: outcomes, cancel, retry and the sweeper."""
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job, JobStatus
from jobs.services import job_cancel, job_create, job_retry, job_run, jobs_sweep

pytestmark = pytest.mark.django_db


def test_job_success_records_progress_log_and_result():
    job = job_create(kind="noop", params={"steps": 4}, enqueue=False)
    job = job_run(job_id=job.pk)
    assert job.status == JobStatus.SUCCEEDED and job.progress == 1.0
    assert job.result == {"steps": 4, "attempt": 1}
    assert "done after 4 steps" in job.log_tail
    assert job.started_at and job.finished_at and job.heartbeat_at


def test_job_failure_keeps_error_and_traceback():
    job = job_run(job_id=job_create(kind="noop", params={"fail": "disk full"}, enqueue=False).pk)
    assert job.status == JobStatus.FAILED
    assert job.error == "RuntimeError: disk full"
    assert "Traceback" in job.traceback and "disk full" in job.traceback


def test_cancel_queued_job_is_immediate_and_never_runs():
    job = job_cancel(job=job_create(kind="noop", enqueue=False))
    assert job.status == JobStatus.CANCELLED
    assert job_run(job_id=job.pk) is None
    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED


def test_cancel_requested_stops_running_job_at_next_progress():
    job = job_create(kind="noop", params={"steps": 3}, enqueue=False)
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    assert job_run(job_id=job.pk).status == JobStatus.CANCELLED


def test_retry_failed_job_runs_again():
    job = job_run(job_id=job_create(kind="noop", params={"fail": "boom"}, enqueue=False).pk)
    with pytest.raises(ValueError, match="Only failed or cancelled"):
        job_retry(job=job_run(job_id=job_create(kind="noop", enqueue=False).pk))
    job = job_retry(job=job)
    assert job.status == JobStatus.QUEUED and job.error == ""


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="Unknown job kind 'nope'"):
        job_create(kind="nope")


def test_a_second_delivery_of_a_running_job_does_not_run_it_twice():
    job = job_create(kind="noop", enqueue=False)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, heartbeat_at=timezone.now())
    assert job_run(job_id=job.pk) is None


def test_sweeper_requeues_idempotent_and_fails_others(settings):
    settings.JOB_HEARTBEAT_TIMEOUT = 5
    old = timezone.now() - timedelta(seconds=60)
    idem = job_create(kind="noop", enqueue=False)
    Job.objects.filter(pk=idem.pk).update(status=JobStatus.RUNNING, heartbeat_at=old, attempts=1)
    fresh = job_create(kind="noop", enqueue=False)
    Job.objects.filter(pk=fresh.pk).update(status=JobStatus.RUNNING, heartbeat_at=timezone.now(), attempts=1)
    spent = job_create(kind="noop", enqueue=False)
    Job.objects.filter(pk=spent.pk).update(status=JobStatus.RUNNING, heartbeat_at=old, attempts=settings.JOB_MAX_ATTEMPTS)

    assert jobs_sweep() == {"requeued": 1, "failed": 1, "committed": 0, "hooks": 0, "resent": 0}
    assert Job.objects.get(pk=idem.pk).status == JobStatus.QUEUED
    assert "re-queued" in Job.objects.get(pk=idem.pk).log_tail
    assert Job.objects.get(pk=fresh.pk).status == JobStatus.RUNNING
    failed = Job.objects.get(pk=spent.pk)
    assert failed.status == JobStatus.FAILED and "stopped responding" in failed.error


def test_finished_hooks_run_after_the_outcome_is_saved_and_cannot_break_the_worker(monkeypatch):
    from jobs import registry

    seen = []

    def record(job):
        seen.append((job.pk, Job.objects.get(pk=job.pk).status))

    def broken(job):
        raise RuntimeError("hook bug")

    monkeypatch.setattr(registry, "JOB_FINISHED_HOOKS", [broken, record])
    ok = job_run(job_id=job_create(kind="noop", enqueue=False).pk)
    bad = job_run(job_id=job_create(kind="noop", params={"fail": "x"}, enqueue=False).pk)
    assert seen == [(ok.pk, JobStatus.SUCCEEDED), (bad.pk, JobStatus.FAILED)]


class WorkerDied(BaseException):
    """The worker process is gone: nothing after this point runs."""


def test_the_sweeper_runs_the_hooks_of_a_job_whose_worker_died_before_them(monkeypatch, settings):
    from jobs import registry
    from jobs.services import run

    seen = []
    monkeypatch.setattr(registry, "JOB_FINISHED_HOOKS", [lambda job: seen.append(job.pk)])
    hooked = job_run(job_id=job_create(kind="noop", enqueue=False).pk)  # hooks ran: the sweeper leaves it
    assert seen == [hooked.pk] and Job.objects.get(pk=hooked.pk).hooks_done_at

    def die(job):
        raise WorkerDied()

    monkeypatch.setattr(run, "run_finished_hooks", die)  # lost between the final write and the hooks
    lost = job_create(kind="noop", enqueue=False)
    with pytest.raises(WorkerDied):
        job_run(job_id=lost.pk)
    cancelled = job_cancel(job=job_create(kind="noop", enqueue=False))  # finished by the web process: no hooks ran
    lost.refresh_from_db()
    assert lost.status == JobStatus.SUCCEEDED and lost.hooks_done_at is None and seen == [hooked.pk]

    assert jobs_sweep()["hooks"] == 0  # within the grace: the worker may be running them now
    Job.objects.update(finished_at=timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT + 1))
    assert jobs_sweep()["hooks"] == 2
    assert sorted(seen) == sorted([hooked.pk, lost.pk, cancelled.pk])
    assert not Job.objects.filter(hooks_done_at__isnull=True).exists()
    assert jobs_sweep()["hooks"] == 0 and len(seen) == 3


def test_a_retried_job_runs_its_hooks_again_when_it_finishes_again(monkeypatch):
    from jobs import registry

    seen = []
    monkeypatch.setattr(registry, "JOB_FINISHED_HOOKS", [lambda job: seen.append(job.status)])
    job = job_run(job_id=job_create(kind="noop", params={"fail": "x"}, enqueue=False).pk)
    job = job_retry(job=job)
    assert job.hooks_done_at is None
    Job.objects.filter(pk=job.pk).update(params={})
    job_run(job_id=job.pk)
    assert seen == [JobStatus.FAILED, JobStatus.SUCCEEDED] and Job.objects.get(pk=job.pk).hooks_done_at


def test_every_registered_job_kind_has_a_label_and_a_known_queue():
    from config.celery_app import QUEUES
    from jobs.registry import JOB_KINDS

    assert {"noop", "export", "import", "generate", "suggest", "train_reward", "evaluate"} <= set(JOB_KINDS)
    for kind, spec in JOB_KINDS.items():
        assert spec.label, kind
        assert spec.queue in QUEUES, kind


def test_a_succeeded_job_says_done_not_its_last_progress_line(client, admin_user, settings):
    """The last progress report ("step 4/4" here; "writing", "training: 99%" in real jobs) is stale
    once the job succeeded: the row, the API and the page say done."""
    job = job_run(job_id=job_create(kind="noop", params={"steps": 4}, enqueue=False).pk)
    assert job.status == JobStatus.SUCCEEDED and job.progress_message == "done"
    client.force_login(admin_user)
    assert client.get(f"/api/jobs/{job.pk}/").json()["progress_message"] == "done"
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "100% done" in page and "step 4/4" not in page
    # A failed one keeps its last line: it says how far the job got.
    failed = job_run(job_id=job_create(kind="noop", params={"steps": 2, "fail": "x"}, enqueue=False).pk)
    assert failed.status == JobStatus.FAILED and failed.progress_message != "done"
    # A job whose worker died after committing its work (commit_result said nothing more) is
    # finished by the sweeper: done as well.
    lost = job_create(kind="noop", enqueue=False)
    Job.objects.filter(pk=lost.pk).update(status=JobStatus.RUNNING, attempts=1, progress=1.0,
                                          progress_message="", committed_at=timezone.now(),
                                          heartbeat_at=timezone.now() - timedelta(hours=1))
    assert jobs_sweep()["committed"] == 1
    lost.refresh_from_db()
    assert lost.status == JobStatus.SUCCEEDED and lost.progress_message == "done"
