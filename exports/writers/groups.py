"""Per-ranking formats: ranked groups (what Ranklab's reward trainer reads), KTO unpaired
rows, and raw judgments.

KTO rule, per candidate of a ranking: a rated candidate is desirable when its rating is above
the middle of the scale, undesirable below it, left out at the middle; an unrated candidate
is desirable in the top tier and undesirable in the bottom tier of a ranking with at least
two tiers, left out in between. (InstructGPT's 1-7 scale: 5-7 desirable, 1-3 undesirable.)
"""
from __future__ import annotations

from collections.abc import Iterator

from exports.writers.records import Group, WriteOptions
from exports.writers.text import prompt_text


def ranked_group_rows(group: Group, opts: WriteOptions) -> Iterator[dict]:
    yield {
        "id": group.id, "task_id": group.task_id, "prompt_id": group.prompt_id, "prompt": group.conversation,
        "completions": group.completions, "tiers": group.tiers,
        "preference_strength": group.preference_strength or None, "ratings": group.ratings,
        "labeler": group.labeler, "source": group.source, "submissions": group.submissions, "split": group.split,
    }


def kto_label(group: Group, index: int, opts: WriteOptions) -> bool | None:
    rating = group.ratings[index] if group.ratings else None
    if rating is not None:
        middle = (opts.rating_min + opts.rating_max) / 2
        return None if rating == middle else rating > middle
    if len(group.tiers) < 2:
        return None
    if index in group.tiers[0]:
        return True
    if index in group.tiers[-1]:
        return False
    return None


def kto_rows(group: Group, opts: WriteOptions) -> Iterator[dict]:
    prompt = prompt_text(group.conversation)
    for index in (i for tier in group.tiers for i in tier):
        label = kto_label(group, index, opts)
        if label is not None:
            yield {"prompt": prompt, "completion": group.completions[index], "label": label}


def raw_rows(group: Group, opts: WriteOptions) -> Iterator[dict]:
    yield {
        "id": group.id, "task_id": group.task_id, "prompt_id": group.prompt_id, "split": group.split,
        "labeler": group.labeler, "source": group.source, "outcome": group.outcome,
        "prompt": group.conversation, "candidate_ids": group.candidate_ids, "completions": group.completions,
        "model_versions": group.model_versions, "tiers": group.tiers, "ratings": group.ratings,
        "flags": group.flags, "preference_strength": group.preference_strength or None,
        "shown_order": group.shown_order, "time_on_task_ms": group.time_on_task_ms,
        "created_at": group.created_at, "review_status": group.review_status, "is_gold": group.is_gold,
        "cant_judge_reason": group.cant_judge_reason, "rationale": group.rationale,
    }
