"""Pairwise formats: TRL preference (standard and conversational), OpenAI preference (DPO)
and Anthropic HH-RLHF transcripts. One row per (chosen, rejected) pair of a ranking.

Pairs come from core/ranking.py: all C(K,2) pairs with ties dropped, or best vs
rest. The optional margin (TRL RewardTrainer's `margin` column):
  ratings  -> rating(chosen) - rating(rejected), 0.0 when either is unrated;
  strength -> for K=2 rankings with a preference strength: much_better 3, better 2,
              slightly_better 1, about_the_same 0; otherwise the number of tiers between them.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

from core.ranking import best_vs_rest, ranked_pairs, tier_of
from exports.writers.records import Group, WriteOptions
from exports.writers.text import assistant, hh_transcript, prompt_text

STRENGTH = {"much_better": 3.0, "better": 2.0, "slightly_better": 1.0, "about_the_same": 0.0}


def pairs(group: Group, opts: WriteOptions) -> list[tuple[int, int]]:
    if opts.pairs == "best_vs_rest":
        return best_vs_rest(group.tiers)
    return ranked_pairs(group.tiers)


def margin(group: Group, chosen: int, rejected: int, opts: WriteOptions) -> float:
    if opts.margin == "ratings":
        a, b = group.ratings[chosen], group.ratings[rejected]
        return float(a - b) if a is not None and b is not None else 0.0
    if group.preference_strength and len(group.completions) == 2:
        return STRENGTH[group.preference_strength]
    levels = tier_of(group.tiers)
    return float(levels[rejected] - levels[chosen])


def _with_margin(row: dict, group: Group, a: int, b: int, opts: WriteOptions) -> dict:
    if opts.margin != "none":
        row["margin"] = margin(group, a, b, opts)
    return row


def preference_rows(group: Group, opts: WriteOptions) -> Iterator[dict]:
    prompt = prompt_text(group.conversation)
    texts = group.completions
    for a, b in pairs(group, opts):
        yield _with_margin({"prompt": prompt, "chosen": texts[a], "rejected": texts[b]}, group, a, b, opts)


_encode = json.JSONEncoder(ensure_ascii=False).encode


def preference_lines(group: Group, opts: WriteOptions) -> list[str]:
    """preference_rows already encoded: each text is encoded once per ranking rather than once
    per pair (a K=4 completion appears in 3 pairs). Same bytes as encoding the rows."""
    head = '{"prompt": ' + _encode(prompt_text(group.conversation)) + ', "chosen": '
    texts = [_encode(t) for t in group.completions]
    if opts.margin == "none":
        return [head + texts[a] + ', "rejected": ' + texts[b] + "}" for a, b in pairs(group, opts)]
    return [head + texts[a] + ', "rejected": ' + texts[b] + ', "margin": ' + _encode(margin(group, a, b, opts)) + "}"
            for a, b in pairs(group, opts)]


def preference_chat_rows(group: Group, opts: WriteOptions) -> Iterator[dict]:
    texts = group.completions
    for a, b in pairs(group, opts):
        row = {"prompt": group.conversation, "chosen": assistant(texts[a]), "rejected": assistant(texts[b])}
        yield _with_margin(row, group, a, b, opts)


def openai_preference_rows(group: Group, opts: WriteOptions) -> Iterator[dict]:
    texts = group.completions
    for a, b in pairs(group, opts):
        yield {"input": {"messages": group.conversation}, "preferred_output": assistant(texts[a]),
               "non_preferred_output": assistant(texts[b])}


def hh_rows(group: Group, opts: WriteOptions) -> Iterator[dict]:
    texts = group.completions
    for a, b in pairs(group, opts):
        yield {"chosen": hh_transcript(group.conversation, texts[a]),
               "rejected": hh_transcript(group.conversation, texts[b])}
