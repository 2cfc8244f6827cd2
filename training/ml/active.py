"""Active learning: which prompts should labelers rank first? Pure Python, no Django, no torch.

    order = rank_prompts({"p1": [0.1, 0.12, 2.0], "p2": [-1.0, 3.0]})     # p1 first: two near-tied answers
    order = rank_prompts(rewards_a, second=rewards_b)                     # where two reward models disagree

Methods (each prompt's candidates scored by the reward model r):
  "min_gap" (default): the smallest reward gap between two of the prompt's candidates, smallest first:
      the pair the reward model can least tell apart is where a label teaches it most.
  "uncertainty": mean over candidate pairs of the Bradley–Terry binary entropy
      H(σ((r_i − r_j)/T)): the reward model's own doubt about how a labeler will order each pair.
      Near-ties score ln 2 per pair; a pair far apart scores ≈ 0.
  with `second` (another reward model's scores of the same candidates): the fraction of candidate
      pairs the two models order differently, ties broken by the mean entropy of both.
`labeler_disagreement` scores prompts that several labelers ranked, for the same queue.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from core.ranking import group_pair_counts


@dataclass(frozen=True)
class PromptScore:
    prompt: Hashable
    score: float  # higher = more informative
    detail: str


def _binary_entropy(p: float) -> float:
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def pair_uncertainty(rewards: Sequence[float], temperature: float = 1.0) -> float:
    """Mean Bradley–Terry entropy over all candidate pairs, in nats (max ln 2)."""
    pairs = list(combinations(rewards, 2))
    return sum(_binary_entropy(_sigmoid((a - b) / temperature)) for a, b in pairs) / len(pairs)


def min_gap(rewards: Sequence[float]) -> float:
    ordered = sorted(rewards)
    return min(b - a for a, b in zip(ordered, ordered[1:], strict=False))


def disagreement(first: Sequence[float], second: Sequence[float]) -> float:
    """Fraction of candidate pairs that the two reward models order in opposite directions."""
    pairs = list(combinations(range(len(first)), 2))
    flips = sum(1 for i, j in pairs if (first[i] - first[j]) * (second[i] - second[j]) < 0)
    return flips / len(pairs)


def _check(rewards: Mapping[Hashable, Sequence[float]], name: str) -> None:
    for prompt, values in rewards.items():
        if len(values) < 2:
            raise ValueError(f"{name}: prompt {prompt!r} has {len(values)} candidate(s); ranking needs at least 2.")
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise ValueError(f"{name}: prompt {prompt!r} has a reward that is not a finite number.")


def rank_prompts(rewards: Mapping[Hashable, Sequence[float]], *, second: Mapping[Hashable, Sequence[float]] | None = None,
                 method: str = "min_gap", temperature: float = 1.0) -> list[PromptScore]:
    """Prompts ordered most informative first. rewards: {prompt: [reward of each candidate]}; ties keep
    the input order, so a caller's own priority survives among equals."""
    if method not in ("uncertainty", "min_gap"):
        raise ValueError(f"Unknown method {method!r}; choose 'uncertainty' or 'min_gap'.")
    if temperature <= 0:
        raise ValueError("temperature must be positive.")
    _check(rewards, "rewards")
    scores = []
    if second is not None:
        _check(second, "second")
        missing = [p for p in rewards if p not in second or len(second[p]) != len(rewards[p])]
        if missing:
            raise ValueError(f"The second reward model must score the same candidates; it differs on prompt(s) "
                             f"{', '.join(map(repr, missing[:5]))}.")
        for prompt, values in rewards.items():
            flips = disagreement(values, second[prompt])
            doubt = (pair_uncertainty(values, temperature) + pair_uncertainty(second[prompt], temperature)) / 2
            # flips dominate: a doubt is at most ln 2 < 1, so scale it below one flip's weight
            scores.append(PromptScore(prompt, flips + doubt / (math.log(2) * len(values) ** 2),
                                      f"{flips:.0%} of pairs ordered differently"))
    elif method == "uncertainty":
        for prompt, values in rewards.items():
            h = pair_uncertainty(values, temperature)
            scores.append(PromptScore(prompt, h, f"mean pair entropy {h:.3f} nats"))
    else:
        for prompt, values in rewards.items():
            gap = min_gap(values)
            scores.append(PromptScore(prompt, -gap, f"smallest reward gap {gap:.3f}"))
    return sorted(scores, key=lambda s: -s.score)  # sorted() is stable


def labeler_disagreement(rankings: Mapping[Hashable, Sequence[Sequence[Sequence[Hashable]]]]) -> list[PromptScore]:
    """Prompts ordered by how much their labelers disagree. rankings: {prompt: [tiers of labeler 1, tiers of
    labeler 2, …]} with tiers as in core/ranking.py (best tier first). Score: over the pairs of
    labelers and the pairs of candidates both ranked, the fraction ordered in opposite directions
    (a tie against a strict order counts half)."""
    scores = []
    for prompt, tiers_list in rankings.items():
        agree, total = group_pair_counts(tiers_list, ties="half")
        conflict = total - agree
        score = conflict / total if total else 0.0
        scores.append(PromptScore(prompt, score, f"{score:.0%} of labeler pair judgements conflict"
                                  if total else "fewer than two labelers"))
    return sorted(scores, key=lambda s: -s.score)
