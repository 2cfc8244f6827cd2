"""Running a job in a worker: claim the row, run the kind's handler with a JobContext while a
thread keeps the heartbeat fresh, record the outcome, call the finished-hooks."""
from __future__ import annotations

import logging
import threading
import traceback as tb
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from jobs import registry
from jobs.models import FINISHED, Job, JobStatus

logger = logging.getLogger(__name__)
LOG_TAIL_CHARS = 8000


class JobCancelled(Exception):
    pass


class JobContext:
    """What a handler uses to report back. Progress and log writes are cheap single-row
    UPDATEs; a background thread keeps the heartbeat fresh while the handler blocks."""

    def __init__(self, job: Job):
        self.job = job
        self._log: list[str] = [job.log_tail] if job.log_tail else []

    def progress(self, fraction: float, message: str = "") -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        self.job.progress, self.job.progress_message = fraction, message[:300]
        Job.objects.filter(pk=self.job.pk).update(
            progress=fraction, progress_message=message[:300], heartbeat_at=timezone.now()
        )
        self.check_cancel()

    def log(self, line: str) -> None:
        logger.info("job %s: %s", self.job.pk, line)
        self._log.append(line.rstrip("\n"))
        tail = "\n".join(self._log)[-LOG_TAIL_CHARS:]
        self._log = [tail]
        Job.objects.filter(pk=self.job.pk).update(log_tail=tail, heartbeat_at=timezone.now())

    def set_metrics(self, metrics: dict) -> None:
        self.job.metrics = metrics
        Job.objects.filter(pk=self.job.pk).update(metrics=metrics, heartbeat_at=timezone.now())

    def cancelled(self) -> bool:
        return Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists()

    def check_cancel(self) -> None:
        if self.cancelled():
            raise JobCancelled()


def _claim(job_id: int) -> Job | None:
    """Mark the job running, unless another delivery already runs it (Redis may redeliver)."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT)
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status in FINISHED:
            return None
        if job.status == JobStatus.RUNNING and job.heartbeat_at and job.heartbeat_at > stale:
            return None
        job.status, job.started_at, job.heartbeat_at = JobStatus.RUNNING, now, now
        job.attempts = F("attempts") + 1
        job.save(update_fields=["status", "started_at", "heartbeat_at", "attempts"])
    job.refresh_from_db()
    return job


def _heartbeat_loop(job_id: int, stop: threading.Event) -> None:
    try:
        while not stop.wait(settings.JOB_HEARTBEAT_INTERVAL):
            Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(heartbeat_at=timezone.now())
    finally:
        connection.close()


def job_run(*, job_id: int) -> Job | None:
    """Run a job in this process. Called by the Celery task; tests may call it directly."""
    job = _claim(job_id)
    if job is None:
        return None
    spec = registry.JOB_KINDS[job.kind]
    handler: Callable = import_string(spec.handler)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat_loop, args=(job.pk, stop), daemon=True)
    beat.start()
    ctx = JobContext(job)
    status, error, trace, result = JobStatus.SUCCEEDED, "", "", {}
    try:
        ctx.check_cancel()
        result = handler(job, ctx) or {}
    except JobCancelled:
        status = JobStatus.CANCELLED
    except Exception as exc:  # the job records every failure; the worker survives it
        status, error, trace = JobStatus.FAILED, f"{type(exc).__name__}: {exc}", tb.format_exc()
        logger.exception("job %s failed", job.pk)
    finally:
        stop.set()
        beat.join(timeout=5)
    update = {"status": status, "finished_at": timezone.now(), "heartbeat_at": timezone.now(),
              "error": error[:5000], "traceback": trace[-20000:]}
    if status == JobStatus.SUCCEEDED:
        update.update(progress=1.0, result=result)
    Job.objects.filter(pk=job.pk).update(**update)
    job.refresh_from_db()
    run_finished_hooks(job)
    return job


def run_finished_hooks(job: Job) -> None:
    for hook in list(registry.JOB_FINISHED_HOOKS):
        try:
            hook(job)
        except Exception:  # a hook's failure must not turn a finished job into a crashed worker
            logger.exception("job %s: finished-hook %s failed", job.pk, getattr(hook, "__name__", hook))
