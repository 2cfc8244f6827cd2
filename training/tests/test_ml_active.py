"""Active learning order (training/ml/active.py): pure functions on synthetic rewards."""
import random

import pytest

from training.ml.active import disagreement, labeler_disagreement, min_gap, pair_uncertainty, rank_prompts


def synthetic(seed=0, n=30, tied=6, k=4):
    """n prompts with k candidates each; `tied` of them have two candidates within 0.02 of each other,
    the rest spread ≥ 3 apart (a reward model's clear calls). Returned in shuffled order."""
    rng = random.Random(seed)
    rewards, near_tied = {}, set()
    for i in range(n):
        base = rng.uniform(-3, 3)
        if i < tied:
            values = [base, base + rng.uniform(0.0, 0.02)] + [base + 3 * (j + 1) for j in range(k - 2)]
            near_tied.add(f"p{i}")
        else:
            values = [base + 3 * j + rng.uniform(0, 0.5) for j in range(k)]
        rng.shuffle(values)
        rewards[f"p{i}"] = values
    keys = list(rewards)
    rng.shuffle(keys)
    return {key: rewards[key] for key in keys}, near_tied


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("method", ["uncertainty", "min_gap"])
def test_near_tied_prompts_come_first(seed, method):
    rewards, near_tied = synthetic(seed)
    order = rank_prompts(rewards, method=method)
    assert {s.prompt for s in order[: len(near_tied)]} == near_tied
    assert len(order) == len(rewards)
    assert [s.score for s in order] == sorted((s.score for s in order), reverse=True)


def test_disagreement_of_two_reward_models_comes_first():
    rewards, _ = synthetic(3, tied=0)
    second = {p: list(v) for p, v in rewards.items()}
    flipped = list(rewards)[5:9]
    for p in flipped:  # the second model reverses this prompt's order entirely
        second[p] = [-v for v in rewards[p]]
    second[list(rewards)[9]][0] += 0.001  # a negligible change is not a disagreement
    order = rank_prompts(rewards, second=second)
    assert {s.prompt for s in order[:4]} == set(flipped)
    assert order[0].score >= 1.0 and order[4].score < 1 / 6  # below one flipped pair of the six
    assert order[4].detail == "0% of pairs ordered differently"
    assert "100% of pairs ordered differently" in order[0].detail


def test_equal_scores_keep_input_order():
    rewards = {"b": [0.0, 0.0], "a": [1.0, 1.0], "c": [0.0, 5.0]}
    assert [s.prompt for s in rank_prompts(rewards)] == ["b", "a", "c"]


def test_scores():
    assert pair_uncertainty([0.0, 0.0]) == pytest.approx(0.6931, abs=1e-4)
    assert pair_uncertainty([0.0, 20.0]) < 1e-6
    assert min_gap([3.0, 1.0, 1.25]) == pytest.approx(0.25)
    assert disagreement([1, 2, 3], [3, 2, 1]) == 1.0


def test_bad_input_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="prompt 'x' has 1 candidate"):
        rank_prompts({"x": [1.0]})
    with pytest.raises(ValueError, match="not a finite number"):
        rank_prompts({"x": [1.0, float("nan")]})
    with pytest.raises(ValueError, match="must score the same candidates.*'y'"):
        rank_prompts({"x": [1.0, 2.0], "y": [0.0, 1.0]}, second={"x": [1.0, 0.0]})
    with pytest.raises(ValueError, match="Unknown method 'entropy'"):
        rank_prompts({"x": [1.0, 2.0]}, method="entropy")


def test_labeler_disagreement_orders_contested_prompts_first():
    rankings = {
        "agreed": [[[1], [2], [3]], [[1], [2], [3]]],
        "reversed": [[[1], [2], [3]], [[3], [2], [1]]],
        "tie_vs_order": [[[1, 2], [3]], [[1], [2], [3]]],
        "single": [[[1], [2]]],
    }
    order = labeler_disagreement(rankings)
    assert [s.prompt for s in order] == ["reversed", "tie_vs_order", "agreed", "single"]
    assert order[0].score == 1.0
    assert order[1].score == pytest.approx(0.5 / 3)
    assert order[-1].detail == "fewer than two labelers"
