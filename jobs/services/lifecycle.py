"""Creating, enqueueing, cancelling and retrying jobs (the web side of the framework).

The Job row is an outbox: `queued_at` says since when it waits, `sent_at` stays empty until the
broker took its message. A send that fails (broker down) leaves the row queued and unsent, the
sweeper sends it again, and the caller gets JobQueueUnavailable (an API answers 503 with it).
"""
from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.api import ServiceUnavailable
from jobs.models import Job, JobStatus
from jobs.registry import JOB_KINDS, validate_job_kind

logger = logging.getLogger(__name__)


class JobQueueUnavailable(ServiceUnavailable):
    """The job is saved but its message did not reach the broker; `job_id` names it, so a page
    can send its user to the job and say that it starts once the queue is back."""

    default_detail = "The task queue is unreachable."

    def __init__(self, detail=None, code=None, *, job_id: int | None = None):
        super().__init__(detail, code)
        self.job_id = job_id


def job_create(*, kind: str, params: dict | None = None, project=None, user=None, parent: Job | None = None,
               enqueue: bool = True) -> Job:
    try:
        validate_job_kind(kind)
    except Exception as exc:
        raise ValueError(exc.messages[0]) from None
    job = Job.objects.create(kind=kind, params=params or {}, project=project, created_by=user, parent=parent)
    if enqueue:
        job_enqueue(job=job)
    return job


def job_send(*, job: Job) -> None:
    """Hand the job's message to the broker now and record that it left; JobQueueUnavailable
    when the broker refuses (the row stays unsent for the sweeper)."""
    from jobs.tasks import run_job

    spec = JOB_KINDS[job.kind]
    kwargs = {"queue": spec.queue}
    if spec.time_limit:
        kwargs["time_limit"] = spec.time_limit + 60
        kwargs["soft_time_limit"] = spec.time_limit
    try:
        result = run_job.apply_async(args=[job.pk], retry=False, **kwargs)
    except Exception as exc:  # kombu, redis and OS errors alike: the broker did not take it
        logger.warning("job %s: the broker refused its message: %s", job.pk, exc)
        raise JobQueueUnavailable(
            f"Job {job.pk} is saved, but the task queue is unreachable ({type(exc).__name__}): it is sent again "
            "automatically and starts once the queue is back.", job_id=job.pk) from exc
    Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(celery_task_id=result.id or "",
                                                                  sent_at=timezone.now())


def job_enqueue(*, job: Job) -> None:
    """Mark the job unsent and send it to its queue once the current transaction commits (never
    before: the worker must find the row). A job made with enqueue=False (to run in this
    process) is in no queue and the sweeper leaves it alone."""
    job.queued_at, job.sent_at = timezone.now(), None
    Job.objects.filter(pk=job.pk).update(queued_at=job.queued_at, sent_at=None)
    transaction.on_commit(lambda: job_send(job=job))


def job_is_stale(job: Job) -> bool:
    """A queued job whose message never left, or left long ago with no worker taking it (the
    broker lost it): Retry may send it again, which is harmless if the first message arrives
    after all (a claim runs a job once)."""
    if job.status != JobStatus.QUEUED:
        return False
    if job.sent_at is None:
        return True
    return job.sent_at < timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT)


def job_cancel(*, job: Job) -> Job:
    """Queued jobs are cancelled at once; running ones stop at their next progress report."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.is_finished:
            return job
        job.cancel_requested = True
        fields = ["cancel_requested"]
        if job.status == JobStatus.QUEUED:
            job.status, job.finished_at = JobStatus.CANCELLED, timezone.now()
            fields += ["status", "finished_at"]
        job.save(update_fields=fields)
    return job


def job_retry(*, job: Job) -> Job:
    """A failed or cancelled job runs again under the same row (its handler resumes if it can);
    a stale queued one (job_is_stale) is sent again."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job_is_stale(job):
            job_enqueue(job=job)
            return job
        if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise ValueError(f"Only failed or cancelled jobs, or queued jobs no worker took, can be retried; "
                             f"this one is {job.status}.")
        if not job.retryable:
            raise ValueError("This job failed on its input; running it again would fail the same way. "
                             "Fix the input and start a new one.")
        if job.committed_at:
            raise ValueError(f"This job's work was committed at {job.committed_at:%Y-%m-%d %H:%M} UTC; running it "
                             "again would do it twice.")
        job.status, job.cancel_requested, job.error, job.traceback = JobStatus.QUEUED, False, "", ""
        job.finished_at = job.hooks_done_at = None
        job.save(update_fields=["status", "cancel_requested", "error", "traceback", "finished_at", "hooks_done_at"])
        job_enqueue(job=job)
    return job
