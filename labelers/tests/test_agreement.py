"""Agreement, consensus, alpha and gold scores on hand-computed examples, and on a synthetic
population of labelers whose noise is known."""
import random

import pytest

from core.ranking import pair_agreement, pair_counts, task_agreement
from labelers.agreement import (
    borda_scores,
    consensus_tiers,
    gold_score,
    krippendorff_alpha,
    labeler_consensus_agreement,
    labeler_pairwise_agreement,
    pair_differences,
    pairwise_agreement,
)


def test_pair_agreement_counts_pairs_ordered_alike():
    # 1>2>3>4 vs 2>1>3>4: of 6 pairs only (1,2) differs.
    assert pair_counts([[1], [2], [3], [4]], [[2], [1], [3], [4]]) == (5.0, 6)
    assert pair_agreement([[1], [2], [3], [4]], [[4], [3], [2], [1]]) == 0.0
    assert pair_agreement([[1], [2]], [[1], [2]]) == 1.0


def test_ties_are_handled_explicitly():
    a = [[1], [2], [3]]          # 1>2, 1>3, 2>3
    b = [[1, 2], [3]]            # 1=2, 1>3, 2>3
    # (1,2): strict vs tie; the two other pairs agree.
    assert pair_counts(a, b, ties="half") == (2.5, 3)
    assert pair_counts(a, b, ties="strict") == (2.0, 3)
    assert pair_counts(a, b, ties="skip") == (2.0, 2)
    # Both tie the pair: that is agreement.
    assert pair_agreement([[1, 2], [3]], [[3], [1, 2]]) == pytest.approx(1 / 3)
    # A labeler who ties everything is a coin against anyone under "half".
    assert pair_agreement([[1, 2, 3, 4]], [[2], [4], [1], [3]]) == 0.5
    with pytest.raises(ValueError, match="ties must be one of"):
        pair_counts(a, b, ties="maybe")


def test_agreement_only_over_shared_candidates():
    assert pair_counts([[1], [2], [3]], [[3], [2], [9]]) == (0.0, 1)
    assert pair_agreement([[1]], [[2]]) is None


def test_task_and_pairwise_agreement_pool_pairs():
    r1, r2, r3 = [[1], [2], [3]], [[2], [1], [3]], [[1], [2], [3]]
    # labeler pairs: (r1,r2) 2/3, (r1,r3) 3/3, (r2,r3) 2/3 → 7/9
    assert task_agreement([r1, r2, r3]) == pytest.approx(7 / 9)
    assert task_agreement([r1]) is None
    tasks = {"t1": {"A": r1, "B": r2, "C": r3}, "t2": {"A": [[5], [6]], "B": [[6], [5]]}}
    assert pairwise_agreement(tasks) == pytest.approx(7 / 10)
    per = labeler_pairwise_agreement(tasks)
    # A: with B 2/3 + with C 3/3 on t1, with B 0/1 on t2 → 5/7
    assert per["A"] == {"agreement": pytest.approx(5 / 7), "pairs": 7, "tasks": 2}
    assert per["C"] == {"agreement": pytest.approx(5 / 6), "pairs": 6, "tasks": 1}


def test_consensus_is_ranked_pairs_not_borda():
    # Two of three labelers put 1 above 2; the third puts 1 last. Borda scores 2 (2+2+3 = 7)
    # above 1 (3+3+0 = 6), against the majority; ranked pairs keeps 1 > 2.
    rankings = [[[1], [2], [3], [4]], [[1], [2], [3], [4]], [[2], [3], [4], [1]]]
    assert borda_scores(rankings)[2] > borda_scores(rankings)[1]
    assert consensus_tiers(rankings) == [[1], [2], [3], [4]]


def test_consensus_breaks_cycles_and_keeps_majority_ties():
    # A Condorcet cycle 1>2>3>1 with equal margins: locked by Borda order, all ids equal → by id.
    cycle = [[[1], [2], [3]], [[2], [3], [1]], [[3], [1], [2]]]
    result = consensus_tiers(cycle)
    assert sorted(c for t in result for c in t) == [1, 2, 3] and all(len(t) == 1 for t in result)
    # Two labelers disagree on (1,2), agree 3 last → tie kept in the consensus.
    assert consensus_tiers([[[1], [2], [3]], [[2], [1], [3]]]) == [[1, 2], [3]]
    # Labeler ties count for neither side.
    assert consensus_tiers([[[1, 2], [3]], [[1, 2], [3]], [[2], [1], [3]]]) == [[2], [1], [3]]
    assert consensus_tiers([]) == []
    assert consensus_tiers([[[7], [8]]]) == [[7], [8]]


def test_pair_differences_for_calibration():
    diffs = pair_differences([[2], [1], [3]], [[1], [2, 3]])
    assert {(d["a"], d["b"], d["mine"], d["reference"]) for d in diffs} == {(1, 2, -1, 1), (2, 3, 1, 0)}


def test_krippendorff_alpha_matches_published_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", 4 coders x 12 units.
    a = [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None]
    b = [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3]
    c = [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None]
    d = [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None]
    units = [{"A": w, "B": x, "C": y, "D": z} for w, x, y, z in zip(a, b, c, d, strict=True)]
    assert krippendorff_alpha(units, metric="nominal") == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(units, metric="ordinal") == pytest.approx(0.815, abs=5e-4)
    assert krippendorff_alpha(units, metric="interval") == pytest.approx(0.849, abs=5e-4)
    assert krippendorff_alpha(units, metric="ratio") == pytest.approx(0.797, abs=5e-4)
    assert krippendorff_alpha([{"A": 3, "B": 3}, {"A": 3, "B": 3}]) is None  # no variation
    assert krippendorff_alpha([{"A": 3}]) is None
    assert krippendorff_alpha([{"A": 1, "B": 1}, {"A": 7, "B": 7}]) == 1.0
    with pytest.raises(ValueError, match="metric must be"):
        krippendorff_alpha(units, metric="cosine")


def test_gold_score_for_rankings_and_must_flag():
    gold = {"tiers": [[1], [2, 3], [4]]}  # graded pairs: 1>2, 1>3, 1>4, 2>4, 3>4 (2=3 not graded)
    assert gold_score(tiers=[[1], [3], [2], [4]], flags={}, gold_answer=gold) == 1.0
    assert gold_score(tiers=[[4], [3], [2], [1]], flags={}, gold_answer=gold) == 0.0
    assert gold_score(tiers=[[1, 2], [3], [4]], flags={}, gold_answer=gold) == pytest.approx(4.5 / 5)
    assert gold_score(tiers=[], flags={}, gold_answer=gold) == 0.0
    must = {"must_flag": {"4": ["hallucination"], "2": []}}
    assert gold_score(tiers=[[1], [2], [3], [4]], flags={"4": ["hallucination"]}, gold_answer=must) == 0.5
    assert gold_score(tiers=[[1], [2], [3], [4]], flags={"4": ["hallucination"], "2": ["opinion"]},
                      gold_answer=must) == 1.0
    both = {"tiers": [[1], [2, 3], [4]], "must_flag": [4]}
    assert gold_score(tiers=[[1], [2], [3], [4]], flags={}, gold_answer=both) == 0.5
    assert gold_score(tiers=[[1]], flags={}, gold_answer=None) is None


def _noisy_ranking(utilities: dict, sigma: float, rng: random.Random) -> list[list[int]]:
    seen = {c: u + rng.gauss(0, sigma) for c, u in utilities.items()}
    return [[c] for c in sorted(seen, key=seen.get, reverse=True)]


def test_measured_agreement_orders_a_synthetic_population_by_its_noise():
    # Each labeler sees the true utilities (spaced 1 apart) plus Gaussian noise of a known
    # sigma. Labelers are only ever compared with each other (no truth), so the signal between
    # close noise levels is small: 2,000 tasks keep the order stable (checked on 40 seeds).
    rng = random.Random(0)
    noise = {"careful": 0.2, "good": 0.8, "sloppy": 2.0, "random": 100.0}
    tasks = {}
    for t in range(2000):
        values = list(range(4))
        rng.shuffle(values)
        utilities = {t * 10 + i: float(values[i]) for i in range(4)}
        # Overlap 3: each task goes to 3 of the 4 labelers.
        chosen = rng.sample(sorted(noise), 3)
        tasks[t] = {who: _noisy_ranking(utilities, noise[who], rng) for who in chosen}
    expected = sorted(noise, key=noise.get)
    with_consensus = labeler_consensus_agreement(tasks)
    assert sorted(noise, key=lambda w: -with_consensus[w]["agreement"]) == expected
    with_peers = labeler_pairwise_agreement(tasks)
    assert sorted(noise, key=lambda w: -with_peers[w]["agreement"]) == expected
    assert with_consensus["random"]["agreement"] == pytest.approx(0.5, abs=0.03)
    assert 0.55 < pairwise_agreement(tasks) < 0.8
