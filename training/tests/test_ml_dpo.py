"""DPO (training/ml/dpo.py, TRL's DPOTrainer) on a tiny random Llama with SmolLM2's tokenizer, on CPU."""
import json

import pytest
import torch

from training.ml import common, dpo
from training.ml.bundled import tiny_random_model


def write_snapshot(root, rows, fmt="ranked_groups", sha="beef" * 16):
    (root / fmt).mkdir(parents=True)
    (root / "manifest.json").write_text(json.dumps({"sha256": sha}))
    (root / fmt / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def rankings(n=8):
    """Rankings where answers about cats always beat answers about dogs (and a tie that yields no pair)."""
    return [{"prompt": [{"role": "user", "content": f"Which pet, {i}?"}],
             "completions": ["A cat.", "A dog.", "A dog, truly.", "A cat, truly."], "tiers": [[0, 3], [1, 2]]}
            for i in range(n)]


def logratio_margin(model, ref, tokenizer, prompt, chosen, rejected):
    """β-free implicit reward margin: [log π(c) − log π_ref(c)] − [log π(r) − log π_ref(r)]."""
    def logp(m, answer):
        msgs = [{"role": "user", "content": prompt}]
        p = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(msgs + [{"role": "assistant", "content": answer}], tokenize=False)
        ids = tokenizer(full, return_tensors="pt", add_special_tokens=False).input_ids
        n = len(tokenizer(p, add_special_tokens=False).input_ids)
        with torch.no_grad():
            lp = m(ids).logits[0, :-1].log_softmax(-1).gather(1, ids[0, 1:, None])[:, 0]
        return lp[n - 1:].sum().item()
    return (logp(model, chosen) - logp(ref, chosen)) - (logp(model, rejected) - logp(ref, rejected))


def test_dpo_learns_the_labelers_preference_and_saves_a_policy(bundled_tokenizer, tmp_path):
    torch.set_num_threads(1)
    model = tiny_random_model(len(bundled_tokenizer), hidden=32, layers=2, heads=2, seed=0)
    ref = tiny_random_model(len(bundled_tokenizer), hidden=32, layers=2, heads=2, seed=0)
    snap = write_snapshot(tmp_path / "snap", rankings())
    config = dpo.DPOConfig(model_name_or_path="", data_path=str(snap), output_dir=str(tmp_path / "out"),
                           learning_rate=5e-3, max_steps=8, batch_size=8, max_length=128)
    events = []
    final = dpo.train(config, model=model, tokenizer=bundled_tokenizer, emit=events.append)

    logs = [e for e in events if e["event"] == "log"]
    assert [e["step"] for e in logs] == list(range(1, 9)) and logs[-1]["progress"] == 1.0
    assert final["pairs"] == 32  # 8 rankings × 4 untied pairs; the tied pairs are not comparisons
    assert logs[0]["loss"] == pytest.approx(0.6931, abs=1e-3)  # the policy starts as its own reference
    assert logs[-1]["loss"] < 0.6 and logs[-1]["accuracy"] == 1.0 and logs[-1]["reward"] > 0
    # a held-out prompt: the trained policy prefers the cat answer relative to the SFT reference
    assert logratio_margin(model, ref, bundled_tokenizer, "Which pet, new?", "A cat.", "A dog.") > 0

    assert [e["message"] for e in events if e["event"] == "phase"] == [
        "loading the model", "encoding 32 pairs (64 sequences) and computing their reference log-probabilities",
        "saving the model"]
    assert next(e for e in events if e["event"] == "start")["total_steps"] == 8
    done = events[-1]
    assert done["event"] == "done" and done["model_dir"] == str(tmp_path / "out" / "model")
    meta = json.loads((tmp_path / "out" / "model" / "ranklab.json").read_text())
    assert meta["method"] == "dpo" and meta["snapshot_sha256"] == "beef" * 16 and meta["step"] == 8
    assert meta["config"]["beta"] == 0.1 and meta["metrics"]["history"]["loss"][0][0] == 1
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "out" / "model")
    assert torch.equal(reloaded.model.layers[0].mlp.up_proj.weight, model.model.layers[0].mlp.up_proj.weight)


def test_lora_run_merges_its_adapter_and_resumes_from_checkpoints(bundled_tokenizer, tmp_path):
    torch.set_num_threads(1)
    model_dir = tmp_path / "sft"
    tiny_random_model(len(bundled_tokenizer), hidden=32, layers=2, heads=2, seed=1).save_pretrained(model_dir)
    bundled_tokenizer.save_pretrained(model_dir)
    pairs = tmp_path / "pairs.jsonl"  # a single TRL preference file (standard form) instead of a snapshot
    pairs.write_text("".join(json.dumps({"prompt": f"Pet {i}?", "chosen": " cat", "rejected": " dog"}) + "\n"
                             for i in range(6)))
    spec = dict(model_name_or_path=str(model_dir), data_path=str(pairs), output_dir=str(tmp_path / "out"),
                lora_r=4, learning_rate=1e-2, batch_size=2, max_steps=2, save_steps=1, loss_type="sigmoid,ipo")
    events = []
    dpo.train(common.config_from_dict(dpo.DPOConfig, spec), emit=events.append)
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [1, 2]
    ckpt_meta = json.loads((tmp_path / "out" / "checkpoints" / "checkpoint-2" / "meta.json").read_text())
    assert ckpt_meta["step"] == 2 and len(ckpt_meta["snapshot_sha256"]) == 64
    saved = sorted(p.name for p in (tmp_path / "out" / "model").iterdir())
    assert "adapter_config.json" not in saved and "model.safetensors" in saved  # merged: a plain model

    events = []
    dpo.train(common.config_from_dict(dpo.DPOConfig, {**spec, "max_steps": 3}), emit=events.append)
    assert [e["step"] for e in events if e["event"] == "log"] == [3]  # 1–2 came from checkpoint-2

    pairs.write_text(pairs.read_text().replace("cat", "cow"))  # different data, same output_dir
    with pytest.raises(common.ConfigError, match="was trained on export snapshot .* use a new output_dir"):
        dpo.train(common.config_from_dict(dpo.DPOConfig, {**spec, "max_steps": 4}), emit=events.append)


def test_an_export_without_comparisons_says_what_to_do(tmp_path):
    tied = [{"prompt": "Q?", "completions": ["a", "b"], "tiers": [[0, 1]]}]
    snap = write_snapshot(tmp_path / "snap", tied)
    with pytest.raises(ValueError, match="holds no comparisons .*label some ranking tasks and export again"):
        dpo.train(dpo.DPOConfig(model_name_or_path="unused", data_path=str(snap)), emit=lambda e: None)
    with pytest.raises(ValueError, match="has none of preference_chat/train, ranked_groups/train"):
        dpo.train(dpo.DPOConfig(model_name_or_path="unused", data_path=str(tmp_path)), emit=lambda e: None)
    with pytest.raises(common.ConfigError, match="beta must be positive"):
        common.config_from_dict(dpo.DPOConfig, {"model_name_or_path": "x", "beta": 0})


def test_rpo_adds_the_nll_of_the_chosen_answer(bundled_tokenizer, tmp_path):
    torch.set_num_threads(1)
    snap = write_snapshot(tmp_path / "snap", rankings(4))
    losses = {}
    for alpha in (0.0, 1.0):
        model = tiny_random_model(len(bundled_tokenizer), hidden=32, layers=2, heads=2, seed=0)
        config = dpo.DPOConfig(model_name_or_path="", data_path=str(snap), learning_rate=1e-3, max_steps=1,
                               batch_size=8, max_length=128, rpo_alpha=alpha)
        events = []
        dpo.train(config, model=model, tokenizer=bundled_tokenizer, emit=events.append)
        losses[alpha] = next(e for e in events if e["event"] == "log")["loss"]
    assert losses[0.0] == pytest.approx(0.6931, abs=1e-3)
    assert losses[1.0] > losses[0.0] + 5  # + the mean NLL per token of a random model (~ln of the vocabulary)


def test_rpo_alpha_becomes_trls_sft_loss_weighted_by_alpha():
    """The option's mapping onto TRL's loss list (the test above trains with it, in `make test`)."""
    config = dpo.DPOConfig(model_name_or_path="x", loss_type="sigmoid, ipo")
    assert dpo._losses(config) == {"loss_type": ["sigmoid", "ipo"]}
    config.rpo_alpha = 0.5
    assert dpo._losses(config) == {"loss_type": ["sigmoid", "ipo", "sft"], "loss_weights": [1.0, 1.0, 0.5]}


def test_best_worst_takes_one_pair_per_ranking(tmp_path):
    from training.ml import policy_data

    rows = rankings(3) + [{"prompt": "All tied", "completions": ["a", "b"], "tiers": [[0, 1]]}]
    snap = write_snapshot(tmp_path / "snap", rows)
    pairs, _ = policy_data.load_preference_pairs(snap, choice="best_worst")
    assert len(pairs) == 3 and all(p["chosen"][-1]["content"] == "A cat." for p in pairs)
    assert all(p["rejected"][-1]["content"] == "A dog." for p in pairs)
    assert len(policy_data.load_preference_pairs(snap)[0]) == 12
    with pytest.raises(ValueError, match="pairs_per_ranking must be one of all, best_worst"):
        policy_data.load_preference_pairs(snap, choice="some")
