"""Agreement between labelers, consensus rankings and gold scores. Pure functions, no Django.

Rankings are tiers (lists of candidate ids, best tier first; ids in one tier are tied), as in
core/ranking.py, which also holds the pair counts every agreement here is built on
(pair_counts, pair_agreement, task_agreement). The stable entry point that other apps import:

    consensus_tiers(list_of_tiers) -> tiers
        One consensus ranking for a task, by ranked pairs (Tideman). Used by exports'
        "merge into consensus" option.

and, for reports: pairwise_agreement, labeler_pairwise_agreement,
labeler_consensus_agreement, krippendorff_alpha, gold_score, pair_differences.

**Pairwise agreement** (InstructGPT's inter-annotator agreement) and its tie rules (`ties`):
see core/ranking.py. Agreement is micro-averaged: each compared candidate pair weighs the same, whichever task or
labeler pair it comes from (a K=9 task holds 36 pairs, a K=2 task one).

**Consensus** is ranked pairs (Tideman), not Borda count. Reward models learn from pairs, so
the consensus should agree with the labelers' majority on every pair it can: ranked pairs locks
pairwise majorities from the strongest down and skips only those that would close a cycle, so it
is Condorcet-consistent. Borda can put a candidate that 2 of 3 labelers prefer below the other
when the third labeler's dislike is strong, which would train the reward model on a pair the
majority rejected. The consensus ties two candidates only when neither is locked above the other,
i.e. when the labelers' majority is itself tied. Equal margins are locked in order of Borda
score, then id, so the result is deterministic.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from itertools import combinations

from core.ranking import Tiers, pair_counts, pair_sign, ranked_pairs, tier_of

# --- two rankings ---------------------------------------------------------------------------

def pair_differences(mine: Tiers, reference: Tiers) -> list[dict]:
    """The candidate pairs where `mine` orders differently from `reference`, for calibration
    feedback: [{"a", "b", "mine": +1/0/-1, "reference": +1/0/-1}] (+1 means a above b)."""
    lm = tier_of(mine)
    order = [c for tier in reference for c in tier if c in lm]
    out = []
    for x, y in combinations(order, 2):
        sm, sr = pair_sign(mine, x, y), pair_sign(reference, x, y)
        if sm != sr:
            out.append({"a": x, "b": y, "mine": sm, "reference": sr})
    return out


# --- many labelers ----------------------------------------------------------------------------

def pairwise_agreement(tasks: Mapping[Hashable, Mapping[Hashable, Tiers]], *, ties: str = "half") -> float | None:
    """Agreement over shared tasks: {task: {labeler: tiers}} → fraction of pairs ordered alike."""
    agree, total = 0.0, 0
    for by_labeler in tasks.values():
        for a, b in combinations(list(by_labeler.values()), 2):
            ag, n = pair_counts(a, b, ties=ties)
            agree, total = agree + ag, total + n
    return agree / total if total else None


def labeler_pairwise_agreement(tasks: Mapping[Hashable, Mapping[Hashable, Tiers]], *,
                               ties: str = "half") -> dict[Hashable, dict]:
    """Each labeler's agreement with the other labelers of the tasks they share:
    {labeler: {"agreement": float | None, "pairs": compared pairs, "tasks": shared tasks}}."""
    agree: dict = defaultdict(float)
    total: dict = defaultdict(int)
    shared: dict = defaultdict(int)
    for by_labeler in tasks.values():
        if len(by_labeler) < 2:
            continue
        for labeler in by_labeler:
            shared[labeler] += 1
        for (la, a), (lb, b) in combinations(list(by_labeler.items()), 2):
            ag, n = pair_counts(a, b, ties=ties)
            for who in (la, lb):
                agree[who] += ag
                total[who] += n
    return {who: {"agreement": agree[who] / total[who] if total[who] else None,
                  "pairs": total[who], "tasks": shared[who]} for who in shared}


def margins(list_of_tiers: Sequence[Tiers]) -> dict[tuple, int]:
    """{(x, y): labelers ranking x above y minus those ranking y above x}, for every ordered pair
    of candidates that appear together in some ranking (ties count for neither side)."""
    out: dict = defaultdict(int)
    for tiers in list_of_tiers:
        levels = tier_of(tiers)
        for x, y in combinations(list(levels), 2):
            s = (levels[x] < levels[y]) - (levels[x] > levels[y])
            out[(x, y)] += s
            out[(y, x)] -= s
    return dict(out)


def borda_scores(list_of_tiers: Sequence[Tiers]) -> dict[Hashable, float]:
    """Borda count with ties: per ranking, a candidate scores the number of candidates below it
    plus half the number tied with it."""
    scores: dict = defaultdict(float)
    for tiers in list_of_tiers:
        levels = tier_of(tiers)
        for x in levels:
            scores[x] += sum(1.0 if levels[x] < levels[y] else 0.5 if levels[x] == levels[y] else 0.0
                             for y in levels if y != x)
    return dict(scores)


def _reaches(edges: dict, start, goal) -> bool:
    seen, stack = {start}, [start]
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        for nxt in edges.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def consensus_tiers(list_of_tiers: Sequence[Tiers]) -> list[list]:
    """The ranked-pairs consensus of several rankings of the same candidates, as tiers.

    Majorities are locked strongest first (ties broken by Borda score, then id) unless they
    would close a cycle; the result's tiers are then peeled off as the candidates no remaining
    candidate is locked above. Candidates missing from some rankings are compared on the
    rankings that hold them. [] for no rankings; a single ranking is returned as is."""
    rankings = [t for t in list_of_tiers if t]
    if not rankings:
        return []
    if len(rankings) == 1:
        return [list(tier) for tier in rankings[0]]
    m = margins(rankings)
    borda = borda_scores(rankings)
    items = sorted({c for t in rankings for tier in t for c in tier}, key=lambda c: (-borda[c], str(c)))
    rank = {c: i for i, c in enumerate(items)}
    wins = [(x, y, v) for (x, y), v in m.items() if v > 0]
    wins.sort(key=lambda e: (-e[2], rank[e[0]], rank[e[1]]))
    locked: dict = defaultdict(set)
    for x, y, _ in wins:
        if not _reaches(locked, y, x):
            locked[x].add(y)
    remaining, tiers = list(items), []
    while remaining:
        beaten = {y for x in remaining for y in locked.get(x, ()) if y in remaining}
        top = [c for c in remaining if c not in beaten]
        tiers.append(top)
        remaining = [c for c in remaining if c not in top]
    return tiers


def labeler_consensus_agreement(tasks: Mapping[Hashable, Mapping[Hashable, Tiers]], *, ties: str = "half",
                                leave_one_out: bool = True) -> dict[Hashable, dict]:
    """Each labeler's agreement with the consensus of the tasks they ranked with others.

    With leave_one_out (default) the consensus a labeler is compared with is built from the
    *other* labelers' rankings, so nobody agrees with themselves: with 3 labelers a careless one
    would otherwise get a third of every majority for free. Returns
    {labeler: {"agreement", "pairs", "tasks"}}; tasks ranked by one labeler only do not count."""
    agree: dict = defaultdict(float)
    total: dict = defaultdict(int)
    count: dict = defaultdict(int)
    for by_labeler in tasks.values():
        if len(by_labeler) < 2:
            continue
        full = None if leave_one_out else consensus_tiers(list(by_labeler.values()))
        for labeler, tiers in by_labeler.items():
            reference = full if full is not None else consensus_tiers(
                [t for who, t in by_labeler.items() if who != labeler])
            ag, n = pair_counts(tiers, reference, ties=ties)
            agree[labeler] += ag
            total[labeler] += n
            count[labeler] += 1
    return {who: {"agreement": agree[who] / total[who] if total[who] else None,
                  "pairs": total[who], "tasks": count[who]} for who in count}


# --- ratings ----------------------------------------------------------------------------------

def _delta2(metric: str, c: float, k: float, cumulative=None) -> float:
    if metric == "nominal":
        return 0.0 if c == k else 1.0
    if metric == "interval":
        return float(c - k) ** 2
    if metric == "ratio":
        return ((c - k) / (c + k)) ** 2 if c + k else 0.0
    if metric == "ordinal":
        lo, hi = (c, k) if c <= k else (k, c)
        return (cumulative(lo, hi)) ** 2
    raise ValueError(f"metric must be nominal, ordinal, interval or ratio, not {metric!r}")


def krippendorff_alpha(units: Iterable[Mapping[Hashable, float]] | Mapping, *,
                       metric: str = "interval") -> float | None:
    """Krippendorff's alpha for ratings: units → {coder: value}; missing values are allowed.

    alpha = 1 - D_o / D_e over the coincidence matrix (Krippendorff 2011, "Computing
    Krippendorff's alpha-reliability"); units with fewer than 2 values are not pairable and
    are dropped. None when undefined (fewer than 2 pairable values, or no variation at all)."""
    if isinstance(units, Mapping):
        units = units.values()
    values_by_unit = [[v for v in u.values() if v is not None] for u in units]
    values_by_unit = [vs for vs in values_by_unit if len(vs) >= 2]
    # Coincidences: o[(c, k)] = sum over units of (pairs c-k within the unit) / (m_u - 1).
    o: dict = defaultdict(float)
    for vs in values_by_unit:
        m = len(vs)
        for i, c in enumerate(vs):
            for j, k in enumerate(vs):
                if i != j:
                    o[(c, k)] += 1.0 / (m - 1)
    n_c: dict = defaultdict(float)
    for (c, _k), w in o.items():
        n_c[c] += w
    n = sum(n_c.values())
    if n < 2:
        return None
    levels = sorted(n_c)

    def cumulative(lo, hi):
        return sum(n_c[g] for g in levels if lo <= g <= hi) - (n_c[lo] + n_c[hi]) / 2

    d_o = sum(w * _delta2(metric, c, k, cumulative) for (c, k), w in o.items()) / n
    d_e = sum(n_c[c] * n_c[k] * _delta2(metric, c, k, cumulative)
              for c in levels for k in levels if c != k) / (n * (n - 1))
    if d_e == 0:
        return None
    return 1.0 - d_o / d_e


# --- gold -------------------------------------------------------------------------------------

def gold_score(*, tiers: Tiers, flags: Mapping, gold_answer: Mapping | None) -> float | None:
    """How well one answer matches a gold task's known answer, in [0, 1].

    gold_answer = {"tiers": [[...], ...]} and/or {"must_flag": [ids] | {id: [flag keys]}}.
    The ranking part is the agreement on the gold's strict pairs (a pair the gold ties is not
    graded; a labeler's tie on a graded pair counts half); the flag part is the fraction of
    required flags the labeler set (a bare id requires any flag). With both, their mean.
    A non-ranking answer (none acceptable, can't judge) to a gold ranking scores 0."""
    if not gold_answer:
        return None
    parts = []
    gold_tiers = gold_answer.get("tiers")
    if gold_tiers:
        strict = ranked_pairs(gold_tiers)
        if tiers:
            levels = tier_of([[str(c) for c in t] for t in tiers])
            score = 0.0
            for x, y in strict:
                x, y = str(x), str(y)
                if x in levels and y in levels:
                    score += 1.0 if levels[x] < levels[y] else 0.5 if levels[x] == levels[y] else 0.0
            parts.append(score / len(strict) if strict else 1.0)
        else:
            parts.append(0.0)
    must = gold_answer.get("must_flag")
    if must:
        required = [(str(c), None) for c in must] if not isinstance(must, Mapping) else [
            (str(c), f) for c, fs in must.items() for f in (fs or [None])]
        given = {str(c): set(v or []) for c, v in (flags or {}).items()}
        hit = sum(1 for c, f in required if (given.get(c) if f is None else f in given.get(c, set())))
        parts.append(hit / len(required))
    return sum(parts) / len(parts) if parts else None
