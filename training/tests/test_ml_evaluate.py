"""Reward-model evaluation metrics, checked against hand-computed values."""
import json
import math

import pytest

from training.ml.data import RankedGroup
from training.ml.evaluate import (
    calibration,
    evaluate_groups,
    kendall_tau_b,
    labeler_agreement,
    main,
    mean_kendall_tau,
    pairwise_accuracy,
)


def group(tiers, k=None, labeler="L1", prompt_id=1, texts=None):
    k = k or sum(len(t) for t in tiers)
    return RankedGroup(prompt="p", completions=texts or [f"c{i}" for i in range(k)], tiers=tiers, labeler=labeler,
                       prompt_id=prompt_id)


def test_pairwise_accuracy_skips_tied_labels_and_gives_half_for_equal_scores():
    groups = [group([[2], [0, 1], [3]]), group([[0], [1]])]
    # pairs: (2,0) ok, (2,1) ok, (2,3) ok, (0,3) equal → ½, (1,3) wrong; (0,1) wrong
    scores = [[1.0, 0.5, 5.0, 1.0], [0.0, 1.0]]
    accuracy, pairs = pairwise_accuracy(groups, scores)
    assert pairs == 6 and accuracy == pytest.approx(3.5 / 6)


def test_kendall_tau_b_matches_hand_computed_values_with_ties():
    assert kendall_tau_b([1, 2, 3], [1, 2, 3]) == 1.0
    assert kendall_tau_b([1, 2, 3], [3, 2, 1]) == -1.0
    assert kendall_tau_b([1, 2, 3, 4], [1, 1, 2, 2]) == pytest.approx(4 / math.sqrt(4 * 6))  # scipy: 0.8165
    assert math.isnan(kendall_tau_b([1, 2], [5, 5]))
    groups = [group([[0], [1], [2]]), group([[0, 1, 2]])]  # the all-tied prompt has no τ and is not averaged
    tau, prompts = mean_kendall_tau(groups, [[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    assert (tau, prompts) == (1.0, 1)


def test_calibration_is_zero_when_confidence_matches_win_rate_and_large_when_overconfident():
    groups = [group([[0], [1]], prompt_id=i) for i in range(4)]
    honest = [[math.log(3), 0.0]] * 3 + [[0.0, math.log(3)]]  # σ = .75 for the favourite, which wins 3 in 4
    result = calibration(groups, honest)
    assert result["ece"] == pytest.approx(0.0, abs=1e-9)
    assert [(b["count"], round(b["win_rate"], 2)) for b in result["bins"]] == [(4, 0.25), (4, 0.75)]
    overconfident = [[20.0, 0.0]] * 3 + [[0.0, 20.0]]
    assert calibration(groups, overconfident)["ece"] == pytest.approx(0.25, abs=1e-6)


def test_labeler_agreement_counts_shared_untied_comparisons_only():
    texts = ["a", "b", "c"]
    groups = [
        group([[0], [1], [2]], labeler="L1", texts=texts),
        group([[0], [2], [1]], labeler="L2", texts=texts),  # disagrees on (b, c)
        group([[1, 2], [0]], labeler="L3", texts=["b", "c", "a"]),  # same texts, another order: c = a > b
        group([[2], [1], [0]], labeler="consensus", texts=texts),  # not a labeler
        group([[0], [1]], labeler="L1", prompt_id=2, texts=["x", "y"]),  # nobody else saw it
    ]
    scores = [[3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [2.0, 1.0, 3.0], [0.0, 0.0, 0.0], [1.0, 0.0]]
    result = labeler_agreement(groups, scores)
    # (a,b): all three say a>b → 3 of 3 labeler pairs agree; (a,c): L1, L2 say a>c, L3 tied it → 1 of 1;
    # (b,c): L1 b>c, L2 and L3 c>b → 1 of 3
    assert result["labeler_agreement_pairs"] == 7
    assert result["labeler_agreement"] == pytest.approx(5 / 7)
    # the model (a > b > c everywhere) against those 8 labels: (a,b) 3/3, (a,c) 2/2, (b,c) 1/3
    assert result["accuracy_on_shared"] == pytest.approx(6 / 8)
    assert labeler_agreement(groups[:1])["labeler_agreement"] is None


def test_evaluate_groups_and_command_line(tmp_path, bundled_tokenizer, capsys):
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    metrics = evaluate_groups([group([[0], [1], [2]])], [[3.0, 2.0, 1.0]])
    assert metrics["accuracy"] == 1.0 and metrics["kendall_tau"] == 1.0 and metrics["pairs"] == 3
    assert set(metrics) >= {"ece", "calibration", "labeler_agreement", "reward_mean", "reward_std"}

    torch.manual_seed(0)
    model = LlamaForSequenceClassification(LlamaConfig(
        vocab_size=len(bundled_tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, num_labels=1, pad_token_id=bundled_tokenizer.pad_token_id))
    model.save_pretrained(tmp_path / "rm")
    bundled_tokenizer.save_pretrained(tmp_path / "rm")
    rows = [{"prompt": [{"role": "user", "content": f"q{i}"}], "completions": ["x", "y y", "z z z"], "tiers": [[0], [1, 2]]}
            for i in range(3)]
    (tmp_path / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    assert main(["--model", str(tmp_path / "rm"), "--data", str(tmp_path / "test.jsonl")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["event"] == "done" and out["metrics"]["pairs"] == 6 and 0.0 <= out["metrics"]["accuracy"] <= 1.0
