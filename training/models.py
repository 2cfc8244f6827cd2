"""The model registry and the training rounds."""
from django.conf import settings
from django.db import models

from jobs.models import Job


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
    produced_by_job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="models")
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


class RoundStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    # Stopped before the policy step because the reward model has not learned; "continue anyway" carries on.
    HELD = "held", "Held"


class RoundStep(models.TextChoices):
    # In the order a round runs them; each is an ordinary Job that can also run alone.
    EXPORT = "export", "Export snapshot"
    REWARD = "reward", "Train reward model"
    POLICY = "policy", "Train and register policy"
    EVALUATE = "evaluate", "Evaluate against the parent"
    GENERATE = "generate", "Generate next candidates"
    PAIRWISE = "pairwise", "Blind old-vs-new tasks"
    PRIORITISE = "prioritise", "Order the queue"
    DONE = "done", "Done"


class PolicyMethod(models.TextChoices):
    DPO = "dpo", "DPO"
    PPO = "ppo", "PPO-ptx"
    RLOO = "rloo", "RLOO"


class QueueMode(models.TextChoices):
    NONE = "none", "Prompt order (no active learning)"
    RM_GAP = "rm_gap", "Smallest reward gap first"
    RM_UNCERTAINTY = "rm_uncertainty", "Reward-model uncertainty first"
    RM_DISAGREEMENT = "rm_disagreement", "Two reward models disagree first"
    LABELER_DISAGREEMENT = "labeler_disagreement", "Labelers disagreed first"


class Round(models.Model):
    """One iteration of the loop: export → reward model → policy → evaluation → the next
    candidates (new policy mixed with its parent) → ranking tasks, optionally reordered."""

    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=RoundStatus.choices, default=RoundStatus.RUNNING, db_index=True)
    step = models.CharField(max_length=12, choices=RoundStep.choices, default=RoundStep.EXPORT)
    method = models.CharField(max_length=8, choices=PolicyMethod.choices, default=PolicyMethod.DPO)
    params = models.JSONField(default=dict, blank=True, help_text="Options of every step, as given.")
    base_policy = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+",
                                    help_text="The policy this round starts from (its parent).")
    reward_base = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                    help_text="The model the reward model is trained from (default: the base policy).")
    export = models.ForeignKey("exports.ExportSnapshot", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    reward_model = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    policy_model = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    current_job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    export_job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reward_job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    policy_job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    evaluate_job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    generate_job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    pairwise_job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    prioritise_job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    queue_mode = models.CharField(max_length=24, choices=QueueMode.choices, default=QueueMode.NONE)
    queue_order = models.JSONField(default=list, blank=True,
                                   help_text="[{task, prompt, score, detail, priority}], most informative first.")
    evaluation = models.JSONField(default=dict, blank=True, help_text="The evaluate step's result.")
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="round_number_once_per_project"),
        ]

    def __str__(self):
        return f"round {self.number} of {self.project}"

    def step_job(self, step: str) -> Job | None:
        return getattr(self, f"{step}_job", None) if step in STEP_ORDER else None


STEP_ORDER = [RoundStep.EXPORT, RoundStep.REWARD, RoundStep.POLICY, RoundStep.EVALUATE, RoundStep.GENERATE,
              RoundStep.PAIRWISE, RoundStep.PRIORITISE]


class ProjectLoop(models.Model):
    """What a project knows about its own loop: the rule its (simulated) labelers follow, when
    known, so a round can measure the ground truth, and the reward-model accuracy a round needs
    before it trains a policy."""

    project = models.OneToOneField("annotate.Project", on_delete=models.CASCADE, related_name="loop")
    rule = models.CharField(max_length=500, blank=True,
                            help_text="The known preference (training/ml/rules.py), e.g. shorter or keyword:please.")
    rm_min_accuracy = models.FloatField(
        default=0.6, help_text="A round holds before the policy step when the reward model's held-out accuracy is "
                               "below this (or its 95 % interval includes 0.5).")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(rm_min_accuracy__gte=0, rm_min_accuracy__lte=1),
                                   name="projectloop_rm_min_accuracy_fraction"),
        ]

    def __str__(self):
        return f"loop of {self.project}"
