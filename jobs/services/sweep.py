"""The sweeper (Celery beat, jobs.tasks.sweep_jobs): recovers jobs whose worker died, and sends
again the queued jobs whose message never reached the broker."""
from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.models import Job, JobStatus
from jobs.registry import JOB_KINDS
from jobs.services.lifecycle import JobQueueUnavailable, job_enqueue, job_send
from jobs.services.run import log_append, run_finished_hooks

logger = logging.getLogger(__name__)


def jobs_sweep() -> dict[str, int]:
    """Recover running jobs whose heartbeat stopped: re-queue idempotent kinds (up to
    JOB_MAX_ATTEMPTS), fail the others with a message saying why. Then send the unsent queued
    jobs (the outbox)."""
    stale = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT)
    requeued = failed = 0
    dead_ids = list(Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=stale).values_list("pk", flat=True))
    for job_id in dead_ids:
        with transaction.atomic():
            job = Job.objects.select_for_update().get(pk=job_id)
            if job.status != JobStatus.RUNNING or (job.heartbeat_at and job.heartbeat_at >= stale):
                continue
            spec = JOB_KINDS.get(job.kind)
            silent = int((timezone.now() - job.heartbeat_at).total_seconds()) if job.heartbeat_at else None
            if spec and spec.idempotent and job.attempts < settings.JOB_MAX_ATTEMPTS and not job.cancel_requested:
                Job.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED)
                log_append(Job.objects.filter(pk=job.pk), f"worker lost (no heartbeat for {silent}s); re-queued")
                job.status = JobStatus.QUEUED
                job_enqueue(job=job)
                requeued += 1
            else:
                job.status, job.finished_at = JobStatus.FAILED, timezone.now()
                job.error = (
                    f"The worker running this job stopped responding (no heartbeat for {silent}s). "
                    "Retry it from the jobs page."
                    if not job.cancel_requested else "Cancelled; the worker stopped before confirming."
                )
                job.save(update_fields=["status", "finished_at", "error"])
                failed += 1
                transaction.on_commit(lambda job=job: run_finished_hooks(job))
    return {"requeued": requeued, "failed": failed, "resent": _send_unsent()}


def _send_unsent() -> int:
    """Send the queued jobs whose message never left (the broker was down when they were made),
    after a grace period that lets the usual send after commit happen first."""
    grace = timezone.now() - timedelta(seconds=settings.JOB_SEND_GRACE)
    unsent = Job.objects.filter(status=JobStatus.QUEUED, sent_at__isnull=True, queued_at__lt=grace)
    resent = 0
    for job in unsent.order_by("pk")[:500]:
        try:
            job_send(job=job)
        except JobQueueUnavailable:
            break  # still down: the next sweep tries again
        resent += 1
    return resent
