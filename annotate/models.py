"""Prompts, candidates, tasks, assignments and the two kinds of submission.

How the InstructGPT loop flows through these rows is described in docs/architecture.md.
Single-row invariants live here (constraints, clean()); rules that need other rows live in
annotate/services/.
"""
import hashlib
import json
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from core.roles import Role  # the global roles; a Membership's role is one of them

# InstructGPT's metadata labels (Ouyang et al. 2022, appendix B), the default flag set.
DEFAULT_FLAGS = [
    {"key": "fails_instruction", "label": "Fails to follow the instruction"},
    {"key": "hallucination", "label": "Hallucination / made-up facts"},
    {"key": "inappropriate_assistant", "label": "Inappropriate for a customer assistant"},
    {"key": "sexual", "label": "Sexual content"},
    {"key": "violent", "label": "Violent content"},
    {"key": "encourages_violence", "label": "Encourages violence, abuse, terrorism or self-harm"},
    {"key": "denigrates_protected", "label": "Denigrates a protected class"},
    {"key": "harmful_advice", "label": "Gives harmful advice"},
    {"key": "opinion", "label": "Expresses an opinion"},
    {"key": "moral_judgment", "label": "Expresses a moral judgment"},
]
FLAG_KEY = re.compile(r"[a-z0-9_]{1,50}")
DEFAULT_RATING_SCALE = {"name": "overall", "label": "Overall quality", "min": 1, "max": 7}
# A lease past a week only keeps a task from the pool: the workspace renews a lease while its tab is open.
LEASE_SECONDS_MIN, LEASE_SECONDS_MAX = 60, 7 * 24 * 3600


def default_flags():
    return [dict(f) for f in DEFAULT_FLAGS]


def default_rating_scale():
    return dict(DEFAULT_RATING_SCALE)


def default_task_kinds():
    return [TaskKind.RANKING]


class TaskKind(models.TextChoices):
    DEMONSTRATION = "demonstration", "Demonstration"
    DIALOGUE = "dialogue", "Dialogue demonstration"
    RANKING = "ranking", "Ranking"


class Project(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    guidelines = models.TextField(blank=True, help_text="Markdown, shown to labelers in a panel.")
    task_kinds = models.JSONField(default=default_task_kinds)
    k = models.PositiveSmallIntegerField("candidates per ranking task", default=4)
    submissions_required = models.PositiveSmallIntegerField("submissions per task (overlap)", default=1)
    rating_scale = models.JSONField(default=default_rating_scale)
    flags = models.JSONField(default=default_flags, blank=True)  # a project may offer no flags
    lease_seconds = models.PositiveIntegerField(default=settings.DEFAULT_LEASE_SECONDS)
    # Label quality (labelers/services/quality.py). Rates and thresholds are fractions in [0, 1];
    # a threshold of 0 turns its check off.
    gold_rate = models.FloatField(
        default=0.1, help_text="Chance that a labeler's next task is a gold task they have not done yet.")
    qualification_required = models.BooleanField(
        default=False, help_text="Labelers must pass the screening set (screening gold tasks) before real work.")
    qualification_pass_mark = models.FloatField(default=0.8, help_text="Mean screening gold score needed to pass.")
    quality_window = models.PositiveSmallIntegerField(
        default=20, help_text="Rolling window (most recent gold tasks / finished tasks) for the pause checks.")
    quality_min_samples = models.PositiveSmallIntegerField(
        default=5, help_text="Results needed in the window before a labeler can be paused.")
    pause_below_gold_accuracy = models.FloatField(
        default=0.6, help_text="Pause a labeler whose rolling gold accuracy falls below this (0 = never).")
    pause_below_agreement = models.FloatField(
        default=0.0, help_text="Pause a labeler whose rolling agreement with consensus falls below this (0 = never).")
    review_sample_rate = models.FloatField(default=0.1, help_text="Share of submissions sampled for review.")
    review_flag_below = models.FloatField(
        default=0.5, help_text="Rankings agreeing with their task's consensus below this are flagged for review.")
    sampling_models = models.ManyToManyField(
        "training.ModelVersion", blank=True, related_name="sampled_by_projects",
        help_text="Policy versions this project samples candidates from.",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="annotate.Membership", related_name="projects"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(k__gte=2, k__lte=9), name="project_k_2_to_9"),
            models.CheckConstraint(condition=Q(submissions_required__gte=1), name="project_overlap_positive"),
            models.CheckConstraint(condition=Q(lease_seconds__gte=LEASE_SECONDS_MIN, lease_seconds__lte=LEASE_SECONDS_MAX),
                                   name="project_lease_a_minute_to_a_week"),
            models.CheckConstraint(
                condition=Q(gold_rate__gte=0, gold_rate__lte=1, qualification_pass_mark__gte=0,
                            qualification_pass_mark__lte=1, pause_below_gold_accuracy__gte=0,
                            pause_below_gold_accuracy__lte=1, pause_below_agreement__gte=0,
                            pause_below_agreement__lte=1, review_sample_rate__gte=0, review_sample_rate__lte=1,
                            review_flag_below__gte=0, review_flag_below__lte=1),
                name="project_quality_fractions",
            ),
        ]

    def __str__(self):
        return self.name

    # Single-row rules of a project, all checked at once so a form can show every problem together.
    FRACTIONS = ("gold_rate", "qualification_pass_mark", "pause_below_gold_accuracy", "pause_below_agreement",
                 "review_sample_rate", "review_flag_below")
    MIN_LEASE_SECONDS, MAX_LEASE_SECONDS = LEASE_SECONDS_MIN, LEASE_SECONDS_MAX
    MAX_FLAGS = 30

    def clean(self):
        errors: dict[str, list[str]] = {}

        def error(field, message):
            errors.setdefault(field, []).append(message)

        kinds = self.task_kinds if isinstance(self.task_kinds, list) else []
        unknown = sorted(set(kinds) - set(TaskKind.values))
        if not kinds:
            error("task_kinds", "Choose at least one kind of task.")
        elif unknown:
            error("task_kinds", f"Unknown task kinds {', '.join(unknown)}; choose from {', '.join(TaskKind.values)}.")
        if self.k is not None and not 2 <= self.k <= 9:
            error("k", "A ranking task shows 2 to 9 candidates.")
        if self.submissions_required is not None and self.submissions_required < 1:
            error("submissions_required", "Each task needs at least one submission.")
        if self.lease_seconds is not None and self.lease_seconds < self.MIN_LEASE_SECONDS:
            error("lease_seconds", "A lease lasts at least a minute.")
        if self.lease_seconds is not None and self.lease_seconds > self.MAX_LEASE_SECONDS:
            error("lease_seconds", f"A lease lasts at most a week ({self.MAX_LEASE_SECONDS // 60} minutes).")
        for name in self.FRACTIONS:
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                error(name, "Must be between 0 % and 100 %.")
        if self.quality_window is not None and self.quality_window < 1:
            error("quality_window", "The window holds at least one result.")
        if self.quality_min_samples is not None and self.quality_window and self.quality_min_samples > self.quality_window:
            error("quality_min_samples", "Cannot need more results than the window holds.")
        scale = self.rating_scale if isinstance(self.rating_scale, dict) else {}
        lo, hi = scale.get("min"), scale.get("max")
        if not (isinstance(lo, int) and isinstance(hi, int) and not isinstance(lo, bool) and not isinstance(hi, bool)):
            error("rating_scale", "The rating scale needs a whole-number lowest and highest value.")
        elif not 0 <= lo < hi <= 10:
            error("rating_scale", "The lowest rating must be below the highest, both between 0 and 10.")
        if not str(scale.get("label") or "").strip():
            error("rating_scale", "Name the rating (e.g. “Overall quality”).")
        flags = self.flags if isinstance(self.flags, list) else None
        if flags is None or not all(isinstance(f, dict) for f in flags):
            error("flags", "Flags are a list of {key, label}.")
        else:
            keys = [str(f.get("key") or "") for f in flags]
            if len(flags) > self.MAX_FLAGS:
                error("flags", f"At most {self.MAX_FLAGS} flags.")
            bad = [k for k in keys if not FLAG_KEY.fullmatch(k)]
            if bad:
                error("flags", "A flag's key is 1–50 lower-case letters, digits or underscores"
                               f"{'' if bad == [''] else ': not ' + ', '.join(repr(k) for k in bad if k)}.")
            dupes = sorted({k for k in keys if k and keys.count(k) > 1})
            if dupes:
                error("flags", f"Each flag needs its own key; {', '.join(dupes)} appears more than once.")
            if any(not str(f.get("label") or "").strip() for f in flags):
                error("flags", "Every flag needs a label that labelers read.")
        if errors:
            raise ValidationError(errors)

    @property
    def flag_keys(self) -> list[str]:
        return [f["key"] for f in self.flags]


def conversation_hash(conversation: list[dict]) -> str:
    """The identity of a prompt: SHA-256 of its canonical JSON (roles and contents only)."""
    canonical = json.dumps(
        [{"role": m["role"], "content": m["content"]} for m in conversation],
        ensure_ascii=False, separators=(",", ":"), sort_keys=True,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def split_bucket(content_hash: str) -> float:
    """A number in [0, 1) fixed by the prompt's identity; a prompt is in the test split when
    its bucket falls below the test ratio, so the split never changes and never leaks."""
    return int(content_hash[:15], 16) / float(16**15)


def validate_conversation(value):
    if not isinstance(value, list) or not value:
        raise ValidationError("A conversation is a non-empty list of {role, content} messages.")
    for i, m in enumerate(value):
        if not isinstance(m, dict) or set(m) - {"role", "content"} or "role" not in m or "content" not in m:
            raise ValidationError(f"Message {i} must be an object with 'role' and 'content' only.")
        if m["role"] not in ("system", "user", "assistant"):
            raise ValidationError(f"Message {i}: role must be system, user or assistant, not {m['role']!r}.")
        if not isinstance(m["content"], str) or not m["content"].strip():
            raise ValidationError(f"Message {i}: content must be a non-empty string.")
    if value[-1]["role"] != "user":
        raise ValidationError("A prompt's conversation must end with a user turn.")


class QualificationStatus(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"


class Membership(models.Model):
    """A user's role in one project, whether their work there is paused, and their screening.

    Roles exist twice on purpose: a Django group (admin, reviewer, labeler) says what a person may
    do in general; a Membership says what they may do in one project. A labeler reaches only the
    projects they are a member of. The table keeps the name it had in the labelers app."""

    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.LABELER)
    is_paused = models.BooleanField(default=False, help_text="Paused labelers get no new work.")
    paused_reason = models.TextField(blank=True)
    qualification_status = models.CharField(
        max_length=12, choices=QualificationStatus.choices, default=QualificationStatus.NOT_STARTED)
    qualification_score = models.FloatField(null=True, blank=True)
    qualified_at = models.DateTimeField(null=True, blank=True)
    quality_since = models.DateTimeField(
        null=True, blank=True, help_text="Pause checks count only results after this (set when an admin resumes).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "labelers_membership"
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_once")]

    def __str__(self):
        return f"{self.user} in {self.project} as {self.role}"


class Prompt(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    conversation = models.JSONField(validators=[validate_conversation])
    content_hash = models.CharField(max_length=64, editable=False)
    split_key = models.FloatField(editable=False, help_text="In [0, 1), from the content hash.")
    source = models.CharField(max_length=200, blank=True)
    tags = models.JSONField(default=list, blank=True)
    language = models.CharField(max_length=16, default="en")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "content_hash"], name="prompt_unique_per_project"),
        ]

    def save(self, *args, **kwargs):
        self.content_hash = conversation_hash(self.conversation)
        self.split_key = split_bucket(self.content_hash)
        super().save(*args, **kwargs)

    def split(self, test_ratio: float = 0.1) -> str:
        return "test" if self.split_key < test_ratio else "train"

    @property
    def text(self) -> str:
        return self.conversation[-1]["content"]

    def __str__(self):
        return self.text[:80]


class Candidate(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="candidates")
    text = models.TextField()
    model_version = models.ForeignKey(
        "training.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="candidates"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=200, blank=True, help_text="e.g. import:hh-rlhf, or a model name")
    sampling_params = models.JSONField(default=dict, blank=True)
    seed = models.BigIntegerField(null=True, blank=True)
    generation_job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="candidates"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.text[:80]


class TaskState(models.TextChoices):
    OPEN = "open", "Open"
    COMPLETE = "complete", "Complete"
    CANCELLED = "cancelled", "Cancelled"


class Task(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(max_length=20, choices=TaskKind.choices)
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="tasks")
    candidates = models.ManyToManyField(Candidate, through="TaskCandidate", related_name="tasks")
    state = models.CharField(max_length=12, choices=TaskState.choices, default=TaskState.OPEN)
    submissions_required = models.PositiveSmallIntegerField(default=1)
    # Counters kept by the services under the task's row lock, so that choosing work is one
    # indexed query rather than a count over assignments.
    submissions_count = models.PositiveIntegerField(default=0)
    active_leases = models.PositiveIntegerField(default=0)
    priority = models.FloatField(default=0.0, help_text="Higher first; set by the model queue.")
    is_gold = models.BooleanField(default=False)
    gold_answer = models.JSONField(
        null=True, blank=True, help_text='{"tiers": [[ids], ...]} and/or {"must_flag": [ids] | {id: [flag keys]}}')
    is_screening = models.BooleanField(
        default=False, help_text="A gold task of the project's qualification screening set.")
    generation_job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "state", "-priority", "-submissions_count", "id"], name="task_pick_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(submissions_required__gte=1), name="task_overlap_positive"),
        ]

    def __str__(self):
        return f"{self.kind} task {self.pk}"

    @property
    def needed(self) -> int:
        return max(0, self.submissions_required - self.submissions_count)

    def candidate_ids(self) -> list[int]:
        return list(self.task_candidates.order_by("position").values_list("candidate_id", flat=True))


class TaskCandidate(models.Model):
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="task_candidates")
    candidate = models.ForeignKey(Candidate, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["task", "candidate"], name="task_candidate_once"),
            models.UniqueConstraint(fields=["task", "position"], name="task_candidate_position_once"),
        ]


class AssignmentState(models.TextChoices):
    ACTIVE = "active", "Active"
    SUBMITTED = "submitted", "Submitted"
    EXPIRED = "expired", "Expired"
    SKIPPED = "skipped", "Skipped"


class Assignment(models.Model):
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="assignments")
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=12, choices=AssignmentState.choices, default=AssignmentState.ACTIVE)
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.TextField(blank=True)
    # Candidate ids in the order this labeler sees them (shuffled per labeler, kept for
    # position-bias analysis).
    shown_order = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            # At most one live or finished assignment per labeler and task; expired leases are history.
            models.UniqueConstraint(
                fields=["task", "labeler"],
                condition=Q(state__in=["active", "submitted", "skipped"]),
                name="assignment_once_per_labeler",
            ),
        ]
        indexes = [
            models.Index(fields=["labeler", "state"], name="assignment_labeler_state_idx"),
            models.Index(fields=["state", "expires_at"], name="assignment_expiry_idx"),
        ]

    def __str__(self):
        return f"assignment {self.pk} ({self.state})"


class ReviewStatus(models.TextChoices):
    PENDING = "pending", "Not reviewed"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class Submission(models.Model):
    """Fields shared by both kinds of submission. Immutable once created (see save())."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="%(class)ss")
    assignment = models.OneToOneField(
        Assignment, null=True, blank=True, on_delete=models.PROTECT, related_name="%(class)s"
    )
    labeler = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="%(class)ss"
    )
    source = models.CharField(max_length=200, default="labeler", help_text="'labeler' or e.g. import:hh-rlhf")
    time_on_task_ms = models.PositiveIntegerField(default=0, help_text="Active time, hidden tab excluded.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    review_status = models.CharField(max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.PENDING)
    review_comment = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    # Only review fields may change after submission.
    MUTABLE_FIELDS = frozenset({"review_status", "review_comment", "reviewed_by", "reviewed_at"})

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            fields = kwargs.get("update_fields")
            if fields is None or not set(fields) <= self.MUTABLE_FIELDS:
                raise ValidationError("A submission cannot be changed after it is submitted.")
        super().save(*args, **kwargs)


class Demonstration(Submission):
    """A written ideal answer (SFT data). For dialogue tasks, `conversation` holds the whole
    exchange the labeler wrote, user and assistant turns alike."""

    text = models.TextField(blank=True)
    conversation = models.JSONField(null=True, blank=True)
    suggestion_used = models.BooleanField(default=False)
    suggestion_candidate = models.ForeignKey(
        Candidate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    edit_distance = models.FloatField(null=True, blank=True, help_text="Normalised, 0 = suggestion kept as is.")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(text="") | Q(conversation__isnull=False), name="demonstration_has_content"
            ),
        ]


class RankingOutcome(models.TextChoices):
    RANKED = "ranked", "Ranked"
    NONE_ACCEPTABLE = "none_acceptable", "None is acceptable"
    CANT_JUDGE = "cant_judge", "Can't judge"


class PreferenceStrength(models.TextChoices):
    MUCH_BETTER = "much_better", "Much better"
    BETTER = "better", "Better"
    SLIGHTLY_BETTER = "slightly_better", "Slightly better"
    ABOUT_THE_SAME = "about_the_same", "About the same / unsure"


class Ranking(Submission):
    """A comparison. `tiers` orders candidate ids best to worst; ids sharing a tier are tied."""

    outcome = models.CharField(max_length=20, choices=RankingOutcome.choices, default=RankingOutcome.RANKED)
    tiers = models.JSONField(default=list, blank=True)
    ratings = models.JSONField(default=dict, blank=True, help_text="{candidate_id: rating}")
    flags = models.JSONField(default=dict, blank=True, help_text="{candidate_id: [flag keys]}")
    cant_judge_reason = models.TextField(blank=True)
    preference_strength = models.CharField(max_length=20, choices=PreferenceStrength.choices, blank=True)
    rationale = models.TextField(blank=True)
    shown_order = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [models.Index(fields=["task"], name="ranking_task_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(outcome="cant_judge") | ~Q(cant_judge_reason=""), name="ranking_cant_judge_has_reason"
            ),
        ]
