"""Jobs: every background run keeps a Job row with status, progress, heartbeat and errors.

A job kind is registered once (in its app's AppConfig.ready) with the dotted path of its
handler, the queue it runs on and whether it is idempotent. The single Celery task
`training.tasks.run_job` claims the row, runs the handler with a JobContext, and records the
outcome; `jobs_sweep` (Celery beat) recovers jobs whose worker died.

    job = job_create(kind="export", project=project, params={...}, user=request.user)
    # enqueued after the surrounding transaction commits
"""
from __future__ import annotations

import logging
import threading
import traceback as tb
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from training.models import FINISHED, Job, JobStatus

logger = logging.getLogger(__name__)
LOG_TAIL_CHARS = 8000


@dataclass(frozen=True)
class JobSpec:
    handler: str  # dotted path to `handler(job, ctx) -> dict | None`
    queue: str = "default"
    idempotent: bool = False  # safe to run again from the start (or it resumes by itself)
    time_limit: int | None = None  # seconds; None: no limit


JOB_KINDS: dict[str, JobSpec] = {}
# Called with the Job after it finished (any status), in the worker, after the row is saved;
# e.g. rounds chain their next step from here. A hook must be idempotent: the sweeper may call
# it again for a job whose worker died before the hooks ran (see jobs_sweep).
JOB_FINISHED_HOOKS: list[Callable[[Job], None]] = []


def register_job_kind(kind: str, **spec: Any) -> None:
    JOB_KINDS[kind] = JobSpec(**spec)


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


def job_create(*, kind: str, params: dict | None = None, project=None, user=None, parent: Job | None = None,
               enqueue: bool = True) -> Job:
    if kind not in JOB_KINDS:
        raise ValueError(f"Unknown job kind {kind!r}; known: {', '.join(sorted(JOB_KINDS))}.")
    job = Job.objects.create(kind=kind, params=params or {}, project=project, created_by=user, parent=parent)
    if enqueue:
        job_enqueue(job=job)
    return job


def job_enqueue(*, job: Job) -> None:
    """Send the job to its queue once the current transaction commits (never before: the
    worker must find the row)."""
    spec = JOB_KINDS[job.kind]

    def send():
        from training.tasks import run_job

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
    spec = JOB_KINDS[job.kind]
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
        # A ValidationError is written for the person who asked (e.g. a refused import file):
        # its sentences, without a class name; anything else is a bug, named by its class.
        error = " ".join(exc.messages) if isinstance(exc, ValidationError) else f"{type(exc).__name__}: {exc}"
        status, trace = JobStatus.FAILED, tb.format_exc()
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
    _run_finished_hooks(job)
    return job


def _run_finished_hooks(job: Job) -> None:
    for hook in JOB_FINISHED_HOOKS:
        try:
            hook(job)
        except Exception:  # a hook's failure must not turn a finished job into a crashed worker
            logger.exception("job %s: finished-hook %s failed", job.pk, getattr(hook, "__name__", hook))


def jobs_sweep() -> dict[str, int]:
    """Recover running jobs whose heartbeat stopped: re-queue idempotent kinds (up to
    JOB_MAX_ATTEMPTS), fail the others with a message saying why."""
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
                job.status = JobStatus.QUEUED
                job.log_tail = (job.log_tail + f"\nworker lost (no heartbeat for {silent}s); re-queued")[-LOG_TAIL_CHARS:]
                job.save(update_fields=["status", "log_tail"])
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
                transaction.on_commit(lambda job=job: _run_finished_hooks(job))
    return {"requeued": requeued, "failed": failed}
