"""The sweeper (Celery beat, jobs.tasks.sweep_jobs): recovers jobs whose worker died, runs the
finished-hooks of jobs whose worker died before running them, and sends again the queued jobs
whose message never reached the broker."""
from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.models import FINISHED, Job, JobStatus
from jobs.registry import JOB_KINDS
from jobs.services.lifecycle import JobQueueUnavailable, job_enqueue, job_send
from jobs.services.run import log_append, run_finished_hooks

logger = logging.getLogger(__name__)


def jobs_sweep() -> dict[str, int]:
    """Recover running jobs whose heartbeat stopped: finish those whose work was committed
    (JobContext.commit_result) as succeeded, re-queue idempotent kinds (up to JOB_MAX_ATTEMPTS),
    fail the others with a message saying why. Then run the hooks that finished jobs missed, and
    send the unsent queued jobs (the outbox)."""
    stale = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT)
    requeued = failed = committed = 0
    dead_ids = list(Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=stale).values_list("pk", flat=True))
    for job_id in dead_ids:
        with transaction.atomic():
            job = Job.objects.select_for_update().get(pk=job_id)
            if job.status != JobStatus.RUNNING or (job.heartbeat_at and job.heartbeat_at >= stale):
                continue
            spec = JOB_KINDS.get(job.kind)
            silent = int((timezone.now() - job.heartbeat_at).total_seconds()) if job.heartbeat_at else None
            if job.committed_at:
                job.status, job.finished_at, job.progress, job.hooks_done_at = (JobStatus.SUCCEEDED, timezone.now(),
                                                                                1.0, None)
                job.progress_message = job.progress_message or "done"  # commit_result's line, or nothing stale
                job.save(update_fields=["status", "finished_at", "progress", "progress_message", "hooks_done_at"])
                log_append(Job.objects.filter(pk=job.pk), f"worker lost (no heartbeat for {silent}s) after its work "
                                                          "was committed; recorded as succeeded")
                committed += 1
                transaction.on_commit(lambda job=job: run_finished_hooks(job))
            elif spec and spec.idempotent and job.attempts < settings.JOB_MAX_ATTEMPTS and not job.cancel_requested:
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
                job.hooks_done_at = None
                job.save(update_fields=["status", "finished_at", "error", "hooks_done_at"])
                failed += 1
                transaction.on_commit(lambda job=job: run_finished_hooks(job))
    return {"requeued": requeued, "failed": failed, "committed": committed, "hooks": _run_missed_hooks(stale),
            "resent": _send_unsent()}


def _run_missed_hooks(before) -> int:
    """Run the finished-hooks of jobs that finished before `before` and whose hooks never ran:
    the worker died between the job's final write and its hooks (the hooks are idempotent, so a
    hook that did run before the worker died may run twice)."""
    missed = list(Job.objects.filter(hooks_done_at__isnull=True, finished_at__lt=before, status__in=FINISHED)
                  .order_by("finished_at")[:100])
    for job in missed:
        logger.warning("job %s finished without running its hooks; running them now", job.pk)
        run_finished_hooks(job)
    return len(missed)


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
