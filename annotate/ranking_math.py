"""Pure functions on rankings expressed as tiers (lists of ids, best tier first; ids in the
same tier are tied). No Django imports: exports, agreement and trainers all use these.

    >>> ranked_pairs([[3], [1, 2], [4]])
    [(3, 1), (3, 2), (3, 4), (1, 4), (2, 4)]
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from itertools import combinations

Tiers = Sequence[Sequence[Hashable]]


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
