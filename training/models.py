"""The model registry and the Job row that every background run keeps."""
from django.conf import settings
from django.db import models


class ModelKind(models.TextChoices):
    POLICY = "policy", "Policy"
    REWARD = "reward", "Reward model"


class Backend(models.TextChoices):
    TRANSFORMERS = "transformers", "Local transformers directory"
    GGUF = "gguf", "GGUF file"
    OPENAI = "openai", "OpenAI-compatible endpoint"


class ModelVersion(models.Model):
    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=10, choices=ModelKind.choices, default=ModelKind.POLICY)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    backend = models.CharField(max_length=16, choices=Backend.choices)
    location = models.CharField(max_length=500, help_text="Directory, GGUF file, or base URL.")
    endpoint_model = models.CharField(max_length=200, blank=True, help_text="Model name at an OpenAI-compatible endpoint.")
    # Never serialised, logged or exported: see training/apis.py and exports/.
    api_key = models.CharField(max_length=500, blank=True)
    config = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    produced_by_job = models.ForeignKey("Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="models")
    export_snapshot = models.ForeignKey(
        "exports.ExportSnapshot", null=True, blank=True, on_delete=models.SET_NULL, related_name="models"
    )
    is_bundled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.name

    def __repr__(self):
        # No api_key here either: reprs end up in logs and tracebacks.
        return f"<ModelVersion {self.pk} {self.name} {self.backend}>"


class JobKind(models.TextChoices):
    NOOP = "noop", "Test job"
    CONVERT_MODEL = "convert_model", "Convert model"
    GENERATE = "generate", "Generate candidates"
    EXPORT = "export", "Export snapshot"
    IMPORT = "import", "Import"
    TRAIN_REWARD = "train_reward", "Train reward model"
    TRAIN_SFT = "train_sft", "Supervised fine-tuning"
    TRAIN_POLICY = "train_policy", "Train policy"
    EVALUATE = "evaluate", "Evaluate"
    ROUND = "round", "Round"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(models.Model):
    kind = models.CharField(max_length=20, choices=JobKind.choices)
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
    attempts = models.PositiveSmallIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(progress__gte=0, progress__lte=1), name="job_progress_0_1"),
        ]

    def __str__(self):
        return f"{self.kind} job {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED
