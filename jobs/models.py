"""The Job row that every background run keeps: status, progress, heartbeat, log tail, metrics,
result and error, so the UI shows progress and the sweeper can recover a run whose worker died."""
from django.conf import settings
from django.db import models

from jobs.registry import job_kind_label, validate_job_kind


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(models.Model):
    # No choices: the kinds are whatever the apps registered (jobs/registry.py), so a new kind
    # needs no migration.
    kind = models.CharField(max_length=20, validators=[validate_job_kind])
    # A lazy reference: the jobs app imports nothing from annotate; a project's jobs go with it.
    project = models.ForeignKey("annotate.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    progress_message = models.CharField(max_length=300, blank=True)
    log_tail = models.TextField(blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="Latest values and series for plots.")
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    # Incremented by every claim, and the run's fencing token: a run writes only while the row
    # still carries the attempt it claimed (jobs/services/run.py).
    attempts = models.PositiveSmallIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # The outbox (jobs/services/lifecycle.py): the sweeper sends again what the broker never took.
    queued_at = models.DateTimeField(null=True, blank=True, help_text="When it was last put in its queue.")
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When the broker took its message; "
                                                                   "empty while it is still to send.")
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    committed_at = models.DateTimeField(null=True, blank=True, help_text=(
        "When the handler committed its work together with its result (JobContext.commit_result): "
        "the job is done even if its worker died before recording it, and never runs again."))
    hooks_done_at = models.DateTimeField(null=True, blank=True, help_text=(
        "When the finished-hooks ran after the job's last finish; the sweeper runs them for a "
        "finished job whose worker died first."))

    class Meta:
        db_table = "training_job"  # the table the model had while it lived in the training app
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(progress__gte=0, progress__lte=1), name="job_progress_0_1"),
        ]
        indexes = [
            # The sweeper's look for finished jobs whose hooks never ran: a handful of rows, not the table.
            models.Index(fields=["finished_at"], condition=models.Q(hooks_done_at__isnull=True),
                         name="job_hooks_pending"),
        ]

    def __str__(self):
        return f"{self.kind} job {self.pk} ({self.status})"

    def get_kind_display(self) -> str:
        return job_kind_label(self.kind)

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def retryable(self) -> bool:
        """Failed or cancelled, not failed on its input (JobInputError), and its work not committed
        (JobContext.commit_result): running it again can help, and does nothing twice."""
        return (self.status in (JobStatus.FAILED, JobStatus.CANCELLED) and (self.result or {}).get("retryable", True)
                and self.committed_at is None)
