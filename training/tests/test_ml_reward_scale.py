"""The reward trainer beyond one plain process: frozen lower layers computed once per sequence,
a wall-clock budget, and two processes under `accelerate launch` (gloo on CPU) that reach the
loss of one process with the same global batch."""
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training.ml.data import load_ranked_groups
from training.ml.reward import kwise_reward_loss, train
from training.tests.test_ml_reward import config, synthetic_rows, write_snapshot

ROOT = Path(__file__).resolve().parents[2]
ACCELERATE = Path(sys.executable).with_name("accelerate")


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    return write_snapshot(tmp_path_factory.mktemp("snap"), synthetic_rows(48, 4, 1), synthetic_rows(16, 4, 2, "test"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accelerate_launch(processes: int) -> list[str]:
    """On CPU, `--multi_gpu` is what starts several processes (torchrun; gloo): `--cpu` with
    --num_processes > 1 expects mpirun and starts one."""
    return [str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port())]


def events_of(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("lora", [False, True])
def test_cached_frozen_layers_give_the_scores_and_gradients_of_full_sequences(tiny_model_path, snapshot, lora):
    from training.ml.frozen import LowerCache
    from training.ml.reward import RewardScorer, collate, encode_groups, load_backbone

    cfg = config(tiny_model_path, snapshot, "/unused", freeze_layers=1, lora_r=4 if lora else 0, cache_frozen=True)
    model, tokenizer = load_backbone(cfg)
    groups, _ = load_ranked_groups(snapshot, "train")
    encoded, _ = encode_groups(groups[:6], tokenizer, cfg)
    full = [{k: v for k, v in g.items()} for g in encoded]
    cache = LowerCache(model, 1, tokenizer.pad_token_id, "cpu")
    cache.fill(encoded[:4])
    assert [("hidden" in g) for g in encoded] == [True] * 4 + [False] * 2  # filled when a batch needs it
    cache.fill(encoded)
    upper = cache.upper
    assert all(len(g["hidden"]) == len(g["ids"]) for g in encoded) and "hidden" not in full[0]
    results = []
    for batch_groups in (encoded, full):
        model.zero_grad()
        batch = collate(batch_groups, tokenizer.pad_token_id)
        assert ("hidden" in batch) == (batch_groups is encoded)
        rewards = RewardScorer(model, upper)(batch)
        loss, _ = kwise_reward_loss(rewards, batch["levels"])
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((rewards.detach(), grads))
    (r1, g1), (r2, g2) = results
    torch.testing.assert_close(r1, r2, rtol=1e-4, atol=1e-5)
    assert g1.keys() == g2.keys() and len(g1) >= 3 and not any("layers.0." in n or "embed" in n for n in g1)
    for name in g1:
        torch.testing.assert_close(g1[name], g2[name], rtol=1e-3, atol=1e-5)


def test_training_on_cached_layers_follows_the_losses_of_full_passes(tiny_model_path, snapshot, tmp_path, capsys):
    runs = {}
    for cache in (False, True):
        capsys.readouterr()
        metrics = train(config(tiny_model_path, snapshot, tmp_path / f"cache-{cache}", freeze_layers=1, cache_frozen=cache,
                               share_prompt=False, max_steps=8, logging_steps=1))
        losses = [e["loss"] for e in events_of(capsys.readouterr().out) if e["event"] == "log"]
        runs[cache] = (losses, metrics)
    (plain, m_plain), (cached, m_cached) = runs[False], runs[True]
    assert len(plain) == len(cached) == 8 and plain[-1] < plain[0]
    assert max(abs(a - b) for a, b in zip(plain, cached, strict=True)) < 1e-4
    assert abs(m_plain["eval_accuracy"] - m_cached["eval_accuracy"]) < 0.02


def test_refused_without_frozen_layers(tiny_model_path, snapshot, tmp_path):
    from training.ml.common import ConfigError

    with pytest.raises(ConfigError, match="cache_frozen needs freeze_layers"):
        config(tiny_model_path, snapshot, tmp_path, cache_frozen=True)


def test_a_time_budget_sizes_the_schedule_to_the_steps_that_fit(tiny_model_path, snapshot, tmp_path, capsys):
    """Far more epochs than fit: the run stops near the budget with its cosine schedule finished."""
    metrics = train(config(tiny_model_path, snapshot, tmp_path / "budget", freeze_layers=1, cache_frozen=True,
                           num_epochs=10_000, max_seconds=4, logging_steps=1, lr_scheduler="cosine", eval_batch_size=64))
    logs = [e for e in events_of(capsys.readouterr().out) if e["event"] == "log"]
    assert 3 < metrics["steps"] < 12 * 10_000
    assert metrics["budget_seconds"] < 4 + 2  # one step past the estimate at most
    assert logs[-1]["progress"] == 1.0 and logs[-1]["learning_rate"] < 0.05 * logs[0]["learning_rate"]


@pytest.mark.process
def test_two_processes_reach_the_loss_of_one_with_the_same_global_batch(tiny_model_path, snapshot, tmp_path, capsys):
    """Two processes × 2 prompts per step against one process × 2 micro-batches of 2: the same
    prompts each step, the same averaged gradient, so the same losses and the same weights. The
    shared-prompt pass is on in both: DDP sees it as the scorer's forward."""
    from safetensors.torch import load_file

    base = dict(freeze_layers=1, max_steps=3, logging_steps=1, batch_size=2, save_steps=0, share_prompt=True)
    train(config(tiny_model_path, snapshot, tmp_path / "one", gradient_accumulation_steps=2, **base))
    one = [e for e in events_of(capsys.readouterr().out) if e["event"] == "log"]
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**vars(config(tiny_model_path, snapshot, tmp_path / "two", **base))}))
    proc = subprocess.run(accelerate_launch(2) + ["-m", "training.ml.reward", "--config", str(spec)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env={**_env(), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = events_of(proc.stdout)
    two = [e for e in events if e["event"] == "log"]
    assert [e["event"] for e in events].count("start") == 1 and events[0]["processes"] == 2  # one process speaks
    assert [e["step"] for e in one] == [e["step"] for e in two] == [1, 2, 3]
    for a, b in zip(one, two, strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-4, (one, two)
        assert a["accuracy"] == b["accuracy"]
    w1, w2 = (load_file(tmp_path / run / "model" / "model.safetensors") for run in ("one", "two"))
    for name in w1:
        torch.testing.assert_close(w1[name], w2[name], rtol=1e-4, atol=1e-5)


def _env() -> dict:
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}
