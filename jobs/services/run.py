"""Running a job in a worker: claim the row, run the kind's handler with a JobContext while a
thread keeps the heartbeat fresh, record the outcome, call the finished-hooks.

A claim is fenced: `Job.attempts` is raised by every claim, and each write of a run is an
UPDATE that matches the attempt it claimed. When the sweeper has re-queued the job and another
run has claimed it, the first run's writes match nothing: it stops (JobClaimLost) and records
no outcome. Writes survive a dropped database connection: they reconnect and try once more.

A handler whose work is not safe to do twice (an import) commits it with its result in one
transaction (JobContext.commit_result): a run that finds the work committed does not do it again,
and the sweeper finishes such a job as succeeded. The finished-hooks run after the outcome is
saved and `hooks_done_at` records it; the sweeper runs them for a job whose worker died first.
"""
from __future__ import annotations

import logging
import threading
import traceback as tb
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Case, F, TextField, Value, When
from django.db.models.functions import Concat, Right
from django.utils import timezone
from django.utils.module_loading import import_string

from jobs import registry
from jobs.models import FINISHED, Job, JobStatus

logger = logging.getLogger(__name__)
LOG_TAIL_CHARS = 8000


class JobCancelled(Exception):
    pass


class JobInputError(Exception):
    """Raised by a handler whose input can never succeed (a malformed import file): the job fails
    with this message and is not offered for retry; the fix is new input, a new job."""


class JobClaimLost(Exception):
    """Another run holds the job now (the sweeper re-queued it); this run must stop and write
    nothing more."""


def db_retry(write: Callable):
    """Run a single-statement write; on a dropped connection, reconnect and run it once more.
    Outside a transaction only: inside one, the transaction is lost with its connection."""
    try:
        return write()
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block:
            raise
        logger.warning("database connection lost; reconnecting", exc_info=True)
        connection.close()
        return write()


def log_append(queryset, line: str) -> int:
    """Append a line to the log tail of the jobs in `queryset`, in the database, so that lines
    others append (the sweeper's note) are kept; the tail keeps its last LOG_TAIL_CHARS."""
    line = line.rstrip("\n")
    text = TextField()
    joined = Case(When(log_tail="", then=Value(line, output_field=text)),
                  default=Concat(F("log_tail"), Value("\n" + line, output_field=text), output_field=text),
                  output_field=text)
    return queryset.update(log_tail=Right(joined, LOG_TAIL_CHARS, output_field=text))


class JobContext:
    """What a handler uses to report back. Every report is a single-row UPDATE fenced on this
    run's claim; a background thread keeps the heartbeat fresh while the handler blocks."""

    def __init__(self, job: Job, *, lost: threading.Event | None = None):
        self.job = job
        self.attempt = job.attempts
        self.lost = lost or threading.Event()
        self.committed: dict | None = None  # the result commit_result stored, once its transaction ran
        self.done_message = ""  # what commit_result said the work did, for the finished job's status line

    def _mine(self):
        return Job.objects.filter(pk=self.job.pk, attempts=self.attempt, status=JobStatus.RUNNING)

    def _update(self, write: Callable[[], int]) -> None:
        if self.lost.is_set() or not db_retry(write):
            self.lost.set()
            raise JobClaimLost(f"job {self.job.pk}: attempt {self.attempt} no longer holds the job")

    def progress(self, fraction: float, message: str = "") -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        self.job.progress, self.job.progress_message = fraction, message[:300]
        self._update(lambda: self._mine().update(progress=fraction, progress_message=message[:300],
                                                 heartbeat_at=timezone.now()))
        self.check_cancel()

    def log(self, line: str) -> None:
        logger.info("job %s: %s", self.job.pk, line)
        self._update(lambda: log_append(self._mine(), line))

    def set_metrics(self, metrics: dict) -> None:
        self.job.metrics = metrics
        self._update(lambda: self._mine().update(metrics=metrics, heartbeat_at=timezone.now()))

    def cancelled(self) -> bool:
        return db_retry(lambda: Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists())

    def check_cancel(self) -> None:
        if self.lost.is_set():
            raise JobClaimLost(f"job {self.job.pk}: attempt {self.attempt} no longer holds the job")
        if self.cancelled():
            raise JobCancelled()

    def hold_claim(self) -> None:
        """Call inside the transaction that writes the handler's result: locks the job's row and
        raises JobClaimLost unless this run still holds the claim, so a run that lost its claim
        commits nothing."""
        if not self._mine().select_for_update().exists():
            self.lost.set()
            raise JobClaimLost(f"job {self.job.pk}: attempt {self.attempt} no longer holds the job")

    def commit_result(self, result: dict, message: str = "") -> None:
        """Call as the last statement of the transaction that writes the handler's work: holds
        the claim and stores the result in that same transaction, so the work and the record
        that it happened commit together. From then on the job counts as succeeded, whatever
        becomes of this worker (the sweeper finishes it; no run or Retry does the work again)."""
        self.hold_claim()
        self._mine().update(result=result, committed_at=timezone.now(), progress=1.0,
                            progress_message=message[:300], heartbeat_at=timezone.now())
        transaction.on_commit(lambda: setattr(self, "committed", result))  # not if it rolls back
        self.done_message = message[:300]  # used only if the job succeeds, i.e. this transaction committed


def _claim(job_id: int) -> Job | None:
    """Mark the job running under a new attempt, unless another delivery already runs it
    (Redis may redeliver, the sweeper may re-send)."""
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


def _beat(job_id: int, attempt: int) -> int:
    return Job.objects.filter(pk=job_id, attempts=attempt, status=JobStatus.RUNNING).update(heartbeat_at=timezone.now())


def _taken_over(job_id: int, attempt: int) -> bool:
    """The row as this thread's connection sees it holds another attempt or is no longer running.
    A row it cannot see at all (claimed inside a transaction not yet committed) is not lost."""
    row = Job.objects.filter(pk=job_id).values_list("attempts", "status").first()
    return row is not None and row != (attempt, JobStatus.RUNNING)


def _heartbeat_loop(job_id: int, attempt: int, stop: threading.Event, lost: threading.Event) -> None:
    """Keep the heartbeat fresh for the whole run, whatever the handler does (a training job's
    preparation, a model load). A database error is logged and the next beat reconnects; a beat
    that matches no row means the claim was taken over, and the run is told to stop."""
    try:
        while not stop.wait(settings.JOB_HEARTBEAT_INTERVAL):
            try:
                if not _beat(job_id, attempt) and _taken_over(job_id, attempt):
                    lost.set()
                    return
            except DatabaseError:
                logger.warning("job %s: heartbeat failed; reconnecting", job_id, exc_info=True)
                connection.close()
    finally:
        connection.close()


def _outcome(job: Job, ctx: JobContext, handler: Callable) -> dict:
    status, error, trace, result = JobStatus.SUCCEEDED, "", "", {}
    if job.committed_at:  # an earlier run committed the work and died before saying so
        return _finished(JobStatus.SUCCEEDED, result=job.result, message=job.progress_message)
    try:
        ctx.check_cancel()
        result = handler(job, ctx) or {}
    except JobCancelled:
        status = JobStatus.CANCELLED
    except JobInputError as exc:
        status, error, result = JobStatus.FAILED, str(exc), {"retryable": False}
    except Exception as exc:  # the job records every failure; the worker survives it
        if ctx.lost.is_set():
            raise JobClaimLost(str(exc)) from exc
        # A ValidationError is written for the person who asked (e.g. a refused import file):
        # its sentences, without a class name; anything else is a bug, named by its class.
        error = " ".join(exc.messages) if isinstance(exc, ValidationError) else f"{type(exc).__name__}: {exc}"
        status, trace = JobStatus.FAILED, tb.format_exc()
        logger.exception("job %s failed", job.pk)
    if ctx.committed is not None and status != JobStatus.SUCCEEDED:
        # The work is committed: what failed after it (a cancel, a log line) does not undo it.
        logger.warning("job %s: %s after its work was committed; recorded as succeeded", job.pk, status)
        status, error, trace, result = JobStatus.SUCCEEDED, "", "", ctx.committed
    return _finished(status, error=error, trace=trace, result=result, message=ctx.done_message)


def _finished(status: str, *, error: str = "", trace: str = "", result: dict | None = None, message: str = "") -> dict:
    """The final write of a run; the hooks are still to run (hooks_done_at). A success replaces
    the last progress line ("writing", "training: 99%") with what the work did, or "done"."""
    update = {"status": status, "finished_at": timezone.now(), "heartbeat_at": timezone.now(),
              "error": error[:5000], "traceback": trace[-20000:], "hooks_done_at": None}
    if status == JobStatus.SUCCEEDED:
        update.update(progress=1.0, result=result or {}, progress_message=message or "done")
    elif result:
        update["result"] = result
    return update


def job_run(*, job_id: int) -> Job | None:
    """Run a job in this process; None when it is not this run's to run (finished, running
    elsewhere) or when its claim was taken over while it ran. Called by the Celery task; tests
    may call it directly."""
    job = _claim(job_id)
    if job is None:
        return None
    handler: Callable = import_string(registry.JOB_KINDS[job.kind].handler)
    stop, lost = threading.Event(), threading.Event()
    beat = threading.Thread(target=_heartbeat_loop, args=(job.pk, job.attempts, stop, lost), daemon=True)
    # Inside a caller's transaction the claim is not yet visible to another connection: the thread's
    # beat would wait on the row's lock (SQLite: the write lock) instead of refreshing it.
    if not connection.in_atomic_block:
        beat.start()
    ctx = JobContext(job, lost=lost)
    try:
        update = _outcome(job, ctx, handler)
        ctx._update(lambda: ctx._mine().update(**update))
    except JobClaimLost:
        logger.warning("job %s: attempt %s lost its claim; stopped without recording an outcome", job.pk,
                       ctx.attempt)
        return None
    finally:
        stop.set()
        if beat.is_alive():
            beat.join(timeout=5)
    job.refresh_from_db()
    run_finished_hooks(job)
    return job


def run_finished_hooks(job: Job) -> None:
    """Call every finished-hook, then record that they ran (a hook that raised is logged and
    counts as run: calling it on every sweep would not mend it)."""
    for hook in list(registry.JOB_FINISHED_HOOKS):
        try:
            hook(job)
        except Exception:  # a hook's failure must not turn a finished job into a crashed worker
            logger.exception("job %s: finished-hook %s failed", job.pk, getattr(hook, "__name__", hook))
    db_retry(lambda: Job.objects.filter(pk=job.pk, status__in=FINISHED).update(hooks_done_at=timezone.now()))
