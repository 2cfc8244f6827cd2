"""RLOO (training/ml/rloo.py, TRL's RLOOTrainer) with a reward model directory, on tiny random models, on CPU."""
import json

import pytest
import torch

from training.ml import common, rloo
from training.ml.bundled import tiny_random_model


@pytest.fixture
def tiny_dirs(bundled_tokenizer, tmp_path):
    from transformers import AutoModelForSequenceClassification, LlamaConfig

    torch.set_num_threads(1)
    tok = bundled_tokenizer
    policy = tiny_random_model(len(tok), hidden=32, layers=2, heads=2, seed=0)
    policy.save_pretrained(tmp_path / "policy")
    tok.save_pretrained(tmp_path / "policy")
    torch.manual_seed(1)
    rm = AutoModelForSequenceClassification.from_config(LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, num_labels=1, pad_token_id=tok.pad_token_id))
    rm.save_pretrained(tmp_path / "rm")
    tok.save_pretrained(tmp_path / "rm")
    snap = tmp_path / "snap"
    (snap / "sft_messages").mkdir(parents=True)  # prompts may come from demonstrations too
    (snap / "sft_messages" / "train.jsonl").write_text("".join(
        json.dumps({"messages": [{"role": "user", "content": f"Tell me about animal {i}."},
                                 {"role": "assistant", "content": "Cats purr."}]}) + "\n" for i in range(6)))
    return tmp_path, policy


def test_rloo_trains_against_a_reward_model_and_saves_a_policy(tiny_dirs):
    root, policy = tiny_dirs
    config = rloo.RLOOConfig(model_name_or_path=str(root / "policy"), reward_model_path=str(root / "rm"),
                             data_path=str(root / "snap"), output_dir=str(root / "out"), max_steps=3, batch_size=4,
                             num_generations=2, max_completion_length=6, learning_rate=1e-2)
    events = []
    final = rloo.train(config, emit=events.append)
    logs = [e for e in events if e["event"] == "log"]
    assert [e["step"] for e in logs] == [1, 2, 3] and final["prompts"] == 6
    for e in logs:
        assert {"reward", "kl", "entropy", "loss"} <= set(e)
        assert all(v == v for v in e.values() if isinstance(v, float))  # no NaN
    assert events[-1]["event"] == "done" and events[-1]["model_dir"] == str(root / "out" / "model")

    from transformers import AutoModelForCausalLM

    trained = AutoModelForCausalLM.from_pretrained(root / "out" / "model")
    changed = [n for n, p in trained.named_parameters() if not torch.equal(p, policy.state_dict()[n])]
    assert changed, "RLOO left every parameter as it was"
    meta = json.loads((root / "out" / "model" / "ranklab.json").read_text())
    assert meta["method"] == "rloo" and meta["step"] == 3 and len(meta["snapshot_sha256"]) == 64


def test_rloo_config_errors():
    with pytest.raises(common.ConfigError, match="num_generations must be at least 2"):
        common.config_from_dict(rloo.RLOOConfig, {"model_name_or_path": "x", "num_generations": 1})
    with pytest.raises(common.ConfigError, match=r"batch_size \(6\) must be a multiple of num_generations \(4\)"):
        common.config_from_dict(rloo.RLOOConfig, {"model_name_or_path": "x", "batch_size": 6})
