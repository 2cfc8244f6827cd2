"""Creating, enqueueing, cancelling and retrying jobs (the web side of the framework)."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from jobs.models import Job, JobStatus
from jobs.registry import JOB_KINDS, validate_job_kind


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


def job_enqueue(*, job: Job) -> None:
    """Send the job to its queue once the current transaction commits (never before: the
    worker must find the row)."""
    spec = JOB_KINDS[job.kind]

    def send():
        from jobs.tasks import run_job

        kwargs = {"queue": spec.queue}
        if spec.time_limit:
            kwargs["time_limit"] = spec.time_limit + 60
            kwargs["soft_time_limit"] = spec.time_limit
        result = run_job.apply_async(args=[job.pk], **kwargs)
        Job.objects.filter(pk=job.pk).update(celery_task_id=result.id or "")

    transaction.on_commit(send)


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
    """A failed or cancelled job runs again under the same row (its handler resumes if it can)."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise ValueError(f"Only failed or cancelled jobs can be retried; this one is {job.status}.")
        job.status, job.cancel_requested, job.error, job.traceback = JobStatus.QUEUED, False, "", ""
        job.finished_at = None
        job.save(update_fields=["status", "cancel_requested", "error", "traceback", "finished_at"])
        job_enqueue(job=job)
    return job
