"""What the writers read: plain records, one per ranking (Group) or demonstration (Demo).

The export service builds these from the database in chunks (exports/services/source.py);
writers turn each into zero or more output rows. No Django here, so the writers are easy to
test and to reuse outside the web app.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Group:
    """One ranking of one task (or the consensus of a task's rankings). Candidate-level
    fields are parallel lists; `tiers` and `shown_order` hold indices into `completions`."""

    id: str  # "r<ranking id>", or "t<task id>" for a consensus
    task_id: int
    prompt_id: int
    conversation: list[dict]  # the prompt, ending with a user turn
    split: str
    completions: list[str]
    candidate_ids: list[int]
    model_versions: list[int | None]
    tiers: list[list[int]]
    ratings: list[int | None]
    flags: list[list[str]] = field(default_factory=list)
    preference_strength: str | None = None
    labeler: str = ""
    outcome: str = "ranked"
    shown_order: list[int] = field(default_factory=list)
    time_on_task_ms: int | None = None
    created_at: str | None = None
    source: str = "labeler"
    review_status: str = "pending"
    is_gold: bool = False
    cant_judge_reason: str = ""
    rationale: str = ""
    submissions: int = 1  # rankings merged into this row


@dataclass
class Demo:
    """One demonstration: the whole conversation, ending with the written assistant turn."""

    id: str
    task_id: int
    prompt_id: int
    split: str
    messages: list[dict]
    labeler: str = ""
    source: str = "labeler"
    suggestion_used: bool = False
    time_on_task_ms: int | None = None
    created_at: str | None = None


@dataclass
class WriteOptions:
    pairs: str = "all"  # "all" | "best_vs_rest"
    margin: str = "none"  # "none" | "ratings" | "strength"
    rating_min: int = 1
    rating_max: int = 7
