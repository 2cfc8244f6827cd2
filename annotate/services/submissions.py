"""Submitting rankings and demonstrations.

Checks are split from writes (`ranking_check` → `ranking_submit`): the check needs the task's
candidates and the project's scale and flags; the write holds the assignment's row lock.
Submitting the same answer twice returns the first result; a different answer for an already
submitted assignment is refused, since submissions are immutable. An answer on an expired lease
is accepted while the task still needs it (see lease_check).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction

from annotate import registry
from annotate.models import (
    AssignmentState,
    Demonstration,
    PreferenceStrength,
    Project,
    Ranking,
    RankingOutcome,
    Task,
    TaskKind,
)
from annotate.services.assignments import _candidate_ids, assignment_finish, assignment_lock, lease_check


@dataclass
class RankingInput:
    outcome: str = RankingOutcome.RANKED
    tiers: list[list[int]] = field(default_factory=list)
    ratings: dict = field(default_factory=dict)
    flags: dict = field(default_factory=dict)
    cant_judge_reason: str = ""
    preference_strength: str = ""
    rationale: str = ""
    time_on_task_ms: int = 0


# The largest value a PositiveIntegerField holds on every database (time_on_task_ms).
INT32_MAX = 2**31 - 1


def _candidate_id(value, what: str) -> int:
    """A candidate id: an int, or the digits of one (JSON object keys are strings)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValidationError(f"{what}: {value!r} is not a candidate id.")


def ranking_check(*, task: Task, project: Project, data: RankingInput, shown: list[int] | None = None) -> dict:
    """Validate a ranking against its task; returns the normalised fields to store. `shown`: the
    candidate ids the labeler was shown (an assignment's shown_order, all of the task's), which
    spares reading them."""
    if task.kind != TaskKind.RANKING:
        raise ValidationError(f"This is a {task.kind} task, not a ranking task.")
    candidates = list(shown) if shown else _candidate_ids(task.pk)
    allowed = set(candidates)
    if data.outcome not in RankingOutcome.values:
        raise ValidationError(f"Unknown outcome {data.outcome!r}.")
    if not isinstance(data.tiers or [], list) or not all(isinstance(tier, list) for tier in data.tiers or []):
        raise ValidationError("tiers is a list of lists of candidate ids, best first.")
    tiers = [[_candidate_id(c, "tiers") for c in tier] for tier in (data.tiers or [])]
    if any(not tier for tier in tiers):
        raise ValidationError("A tier cannot be empty.")
    flat = [c for tier in tiers for c in tier]
    if data.outcome == RankingOutcome.RANKED:
        if len(flat) != len(set(flat)):
            raise ValidationError("A candidate appears more than once in the ranking.")
        if set(flat) != allowed:
            missing, extra = sorted(allowed - set(flat)), sorted(set(flat) - allowed)
            raise ValidationError(
                f"A ranking must cover exactly the task's candidates, each once (missing {missing}, unknown {extra})."
            )
    elif tiers:
        raise ValidationError(f"A '{data.outcome}' answer has no ranking; leave tiers empty.")
    if data.outcome == RankingOutcome.CANT_JUDGE and not data.cant_judge_reason.strip():
        raise ValidationError("Say why you can't judge this task.")

    scale = project.rating_scale
    ratings = {}
    for key, value in (data.ratings or {}).items():
        cid = _candidate_id(key, "ratings")
        if cid not in allowed:
            raise ValidationError(f"ratings: candidate {cid} is not in this task.")
        if not isinstance(value, int) or isinstance(value, bool) or not scale["min"] <= value <= scale["max"]:
            raise ValidationError(f"ratings: {value!r} is outside the scale {scale['min']}–{scale['max']}.")
        ratings[str(cid)] = value
    flag_keys = set(project.flag_keys)
    flags = {}
    for key, values in (data.flags or {}).items():
        cid = _candidate_id(key, "flags")
        if cid not in allowed:
            raise ValidationError(f"flags: candidate {cid} is not in this task.")
        unknown = set(values) - flag_keys
        if unknown:
            raise ValidationError(f"flags: unknown flag(s) {sorted(unknown)} for this project.")
        if values:
            flags[str(cid)] = sorted(set(values))
    if data.preference_strength:
        if data.preference_strength not in PreferenceStrength.values:
            raise ValidationError(f"Unknown preference strength {data.preference_strength!r}.")
        if len(candidates) != 2:
            raise ValidationError("Preference strength applies only to tasks with 2 candidates.")
    time_on_task_check(data.time_on_task_ms)
    return {
        "outcome": data.outcome, "tiers": tiers, "ratings": ratings, "flags": flags,
        "cant_judge_reason": data.cant_judge_reason.strip(), "preference_strength": data.preference_strength,
        "rationale": data.rationale.strip(), "time_on_task_ms": data.time_on_task_ms,
    }


def time_on_task_check(value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= INT32_MAX:
        raise ValidationError(f"time_on_task_ms must be a whole number of milliseconds from 0 to {INT32_MAX}.")


def _earlier(model, *, assignment, fields: dict):
    """(the assignment the answer goes to, the submission already stored for it when it is the
    same answer: a retry gets the first result). None when there is none yet; a different answer
    is refused, since submissions are immutable. A lapsed lease is taken back first (lease_check)."""
    if assignment.state != AssignmentState.SUBMITTED:
        assignment = lease_check(assignment=assignment)
    if assignment.state != AssignmentState.SUBMITTED:
        return assignment, None
    existing = model.objects.get(assignment=assignment)
    if all(getattr(existing, k) == v for k, v in fields.items() if k != "time_on_task_ms"):
        return assignment, existing
    raise ValidationError("This task was already submitted; a submission cannot be changed.")


@transaction.atomic
def ranking_submit(*, user, assignment_id: int, data: RankingInput) -> Ranking:
    assignment = assignment_lock(user=user, assignment_id=assignment_id)
    fields = ranking_check(task=assignment.task, project=assignment.project, data=data, shown=assignment.shown_order)
    live = assignment.state == AssignmentState.ACTIVE
    assignment, existing = _earlier(Ranking, assignment=assignment, fields=fields)
    if existing is not None:
        return existing
    ranking = Ranking.objects.create(
        task=assignment.task, assignment=assignment, labeler=user, shown_order=assignment.shown_order, **fields
    )
    # A live lease's task was read under its lock: no need to read it again.
    task = assignment_finish(assignment=assignment, state=AssignmentState.SUBMITTED,
                             task=assignment.task if live else None)
    # Gold score, qualification, consensus when the task completes, pause checks.
    registry.ranking_scored(ranking=ranking, task=task)
    return ranking


@dataclass
class DemonstrationInput:
    text: str = ""
    conversation: list[dict] | None = None
    suggestion_used: bool = False
    suggestion_candidate_id: int | None = None
    edit_distance: float | None = None
    time_on_task_ms: int = 0


def demonstration_check(*, task: Task, data: DemonstrationInput) -> dict:
    from annotate.models import validate_conversation

    if task.kind == TaskKind.DEMONSTRATION:
        if not data.text.strip():
            raise ValidationError("Write an answer before submitting.")
        if data.conversation:
            raise ValidationError("A demonstration task takes text, not a conversation.")
    elif task.kind == TaskKind.DIALOGUE:
        conv = data.conversation or []
        validate_conversation(conv + [{"role": "user", "content": "-"}] if conv and conv[-1]["role"] == "assistant" else conv)
        if not conv or conv[-1]["role"] != "assistant":
            raise ValidationError("A dialogue must end with an assistant turn.")
        if not any(m["role"] == "user" for m in conv):
            raise ValidationError("A dialogue needs at least one user turn.")
        prompt = [{"role": m["role"], "content": m["content"]} for m in task.prompt.conversation]
        if [{"role": m["role"], "content": m["content"]} for m in conv[:len(prompt)]] != prompt:
            raise ValidationError("A dialogue continues the task's prompt: its first turns are the prompt, unchanged.")
    else:
        raise ValidationError(f"This is a {task.kind} task, not a demonstration task.")
    if data.suggestion_candidate_id is not None and data.suggestion_candidate_id not in task.candidate_ids():
        raise ValidationError("The suggestion is not one of this task's candidates.")
    if data.edit_distance is not None and not 0 <= data.edit_distance <= 1:
        raise ValidationError("edit_distance is normalised to 0..1.")
    time_on_task_check(data.time_on_task_ms)
    return {
        "text": data.text.strip() if task.kind == TaskKind.DEMONSTRATION else "",
        "conversation": data.conversation if task.kind == TaskKind.DIALOGUE else None,
        "suggestion_used": bool(data.suggestion_used), "suggestion_candidate_id": data.suggestion_candidate_id,
        "edit_distance": data.edit_distance, "time_on_task_ms": int(data.time_on_task_ms),
    }


@transaction.atomic
def demonstration_submit(*, user, assignment_id: int, data: DemonstrationInput) -> Demonstration:
    assignment = assignment_lock(user=user, assignment_id=assignment_id)
    fields = demonstration_check(task=assignment.task, data=data)
    assignment, existing = _earlier(Demonstration, assignment=assignment, fields=fields)
    if existing is not None:
        return existing
    demo = Demonstration.objects.create(task=assignment.task, assignment=assignment, labeler=user, **fields)
    assignment_finish(assignment=assignment, state=AssignmentState.SUBMITTED)
    return demo
