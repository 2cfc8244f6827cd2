"""Rankings as tiers, and how far two rankings agree. Pure Python: no Django, no torch, so the
web apps, the exports and the trainers in training/ml all share one definition.

A ranking is a list of tiers (lists of ids), best tier first; ids in one tier are tied.

    >>> ranked_pairs([[3], [1, 2], [4]])
    [(3, 1), (3, 2), (3, 4), (1, 4), (2, 4)]
    >>> pair_counts([[1], [2], [3]], [[1, 2], [3]])   # (agreeing pairs, compared pairs)
    (2.5, 3)

**Pairwise agreement** is InstructGPT's inter-annotator agreement (Ouyang et al. 2022, §3.4):
over every candidate pair two labelers both ranked, the fraction ordered the same way. Ties, by
`ties`: both labelers tie the pair → agreement (1); one ties it, the other prefers one side →
"half" (default) counts 0.5 (a tie is half way between the two strict orders, so a labeler who
ties everything scores 0.5 against anyone, the same as a coin), "strict" counts 0, "skip" leaves
the pair out; opposite strict preferences → 0.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from itertools import combinations

Tiers = Sequence[Sequence[Hashable]]
TIE_POLICIES = ("half", "strict", "skip")


def tier_of(tiers: Tiers) -> dict:
    """{id: tier index}; lower is better."""
    return {item: level for level, tier in enumerate(tiers) for item in tier}


def ranked_pairs(tiers: Tiers) -> list[tuple]:
    """All C(K,2) (better, worse) pairs of a ranking, tied pairs dropped, in a stable order:
    by the better item's tier, then the worse item's tier, then position within tiers."""
    flat = [(level, pos, item) for level, tier in enumerate(tiers) for pos, item in enumerate(tier)]
    return [(a[2], b[2]) for a, b in combinations(flat, 2) if a[0] < b[0]]


def tied_pairs(tiers: Tiers) -> list[tuple]:
    return [p for tier in tiers for p in combinations(list(tier), 2)]


def best_vs_rest(tiers: Tiers) -> list[tuple]:
    """(best, other) for each item below the top tier; with a tied top tier, each top item."""
    if not tiers:
        return []
    return [(best, other) for best in tiers[0] for tier in tiers[1:] for other in tier]


def pair_sign(tiers: Tiers, a: Hashable, b: Hashable) -> int:
    """+1 if a ranks above b, -1 if below, 0 if tied."""
    levels = tier_of(tiers)
    return (levels[a] < levels[b]) - (levels[a] > levels[b])


def pair_counts(a: Tiers, b: Tiers, *, ties: str = "half") -> tuple[float, int]:
    """(agreeing pairs, compared pairs) between two rankings, over the candidates both ranked."""
    if ties not in TIE_POLICIES:
        raise ValueError(f"ties must be one of {TIE_POLICIES}, not {ties!r}")
    la, lb = tier_of(a), tier_of(b)
    common = sorted((set(la) & set(lb)), key=str)
    agree, total = 0.0, 0
    for x, y in combinations(common, 2):
        sa = (la[x] < la[y]) - (la[x] > la[y])
        sb = (lb[x] < lb[y]) - (lb[x] > lb[y])
        if sa == sb:
            agree, total = agree + 1, total + 1
        elif sa == 0 or sb == 0:
            if ties == "skip":
                continue
            agree, total = agree + (0.5 if ties == "half" else 0.0), total + 1
        else:
            total += 1
    return agree, total


def pair_agreement(a: Tiers, b: Tiers, *, ties: str = "half") -> float | None:
    """Fraction of candidate pairs the two rankings order the same way (None: nothing shared)."""
    agree, total = pair_counts(a, b, ties=ties)
    return agree / total if total else None


def group_pair_counts(list_of_tiers: Sequence[Tiers], *, ties: str = "half") -> tuple[float, int]:
    """(agreeing pairs, compared pairs) pooled over every two rankings of one group (a task's
    labelers): each compared candidate pair weighs the same."""
    agree, total = 0.0, 0
    for a, b in combinations(list_of_tiers, 2):
        ag, n = pair_counts(a, b, ties=ties)
        agree, total = agree + ag, total + n
    return agree, total


def task_agreement(list_of_tiers: Sequence[Tiers], *, ties: str = "half") -> float | None:
    """Agreement among the rankings of one task: compared pairs pooled over every labeler pair."""
    agree, total = group_pair_counts(list_of_tiers, ties=ties)
    return agree / total if total else None
