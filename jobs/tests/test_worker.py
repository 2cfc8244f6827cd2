"""A real Celery round trip: jobs enqueued through the service run in a real worker process
over the configured broker (Redis when REDIS_URL is set, else the embedded filesystem broker),
and a worker killed mid-job leaves a job the sweeper recovers."""
import os
import signal

import pytest

from conftest import wait_for
from jobs.models import Job, JobStatus
from jobs.services import job_create, jobs_sweep


def _status(job_id):
    return Job.objects.get(pk=job_id).status


def test_job_runs_in_a_real_worker(celery_worker):
    worker = celery_worker("default")
    job = job_create(kind="noop", params={"steps": 5, "sleep": 0.05})
    wait_for(lambda: _status(job.pk) == JobStatus.SUCCEEDED, timeout=60, message="the worker to finish the job")
    job.refresh_from_db()
    assert job.progress == 1.0 and job.progress_message == "done"
    assert job.result == {"steps": 5, "attempt": 1}
    assert job.celery_task_id
    assert worker.poll() is None


def test_worker_killed_mid_job_is_recovered_by_the_sweeper(celery_worker, settings):
    worker = celery_worker("default")
    job = job_create(kind="noop", params={"steps": 40, "sleep": 0.25})
    wait_for(lambda: Job.objects.get(pk=job.pk).progress >= 0.1, timeout=60, message="the job to make progress")
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    assert _status(job.pk) == JobStatus.RUNNING  # nobody has noticed yet

    settings.JOB_HEARTBEAT_TIMEOUT = 2
    wait_for(lambda: jobs_sweep()["requeued"] == 1, timeout=30, message="the sweeper to requeue the job")
    assert _status(job.pk) == JobStatus.QUEUED

    celery_worker("default")
    wait_for(lambda: _status(job.pk) == JobStatus.SUCCEEDED, timeout=90, message="a new worker to finish the job")
    job.refresh_from_db()
    assert job.attempts == 2 and job.result["attempt"] == 2
    assert "worker lost" in job.log_tail


@pytest.mark.redis
def test_uses_redis_when_configured(settings):
    assert settings.CELERY_BROKER_URL.startswith("redis://")
