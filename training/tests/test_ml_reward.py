"""The InstructGPT reward trainer on a tiny random Llama (SmolLM2's shape) and the bundled tokenizer."""
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.ranking import ranked_pairs
from training.ml.common import ConfigError, config_from_dict
from training.ml.data import DataError, encode_completion, load_ranked_groups
from training.ml.reward import RewardConfig, kwise_reward_loss, train

ROOT = Path(__file__).resolve().parents[2]
WORDS = "the a cat dog sky tree river stone light music".split()
QUALITY = ["awful", "poor", "fine", "good", "superb"]  # the learnable signal: the last word


def synthetic_rows(n: int, k: int, seed: int, split: str = "train") -> list[dict]:
    """Ranked groups whose order is decided by the completion's last word; equal words tie."""
    rng = random.Random(seed)
    rows = []
    for p in range(n):
        quality = [rng.randrange(len(QUALITY)) for _ in range(k)]
        completions = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))) + " " + QUALITY[q] for q in quality]
        levels = sorted(set(quality), reverse=True)
        rows.append({"id": f"r{seed}-{p}", "prompt_id": p, "prompt": [{"role": "user", "content": f"Describe thing {p}"}],
                     "completions": completions, "tiers": [[i for i in range(k) if quality[i] == lv] for lv in levels],
                     "preference_strength": None, "ratings": [None] * k, "labeler": "L1", "split": split})
    return rows


def write_snapshot(root: Path, train_rows, test_rows, gz: bool = False) -> Path:
    import gzip

    folder = root / "ranked_groups"
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train_rows), ("test", test_rows)):
        text = "\n".join(json.dumps(r) for r in rows) + "\n"
        if gz:
            with gzip.open(folder / f"{name}.jsonl.gz", "wt") as fh:
                fh.write(text)
        else:
            (folder / f"{name}.jsonl").write_text(text)
    (root / "manifest.json").write_text(json.dumps({"sha256": "snap-" + str(len(train_rows)), "formats": ["ranked_groups"]}))
    return root


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory, bundled_tokenizer):
    from training.ml.bundled import tiny_random_model

    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("base")
    tiny_random_model(len(bundled_tokenizer)).save_pretrained(path)
    bundled_tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    return write_snapshot(tmp_path_factory.mktemp("snap"), synthetic_rows(64, 4, 1), synthetic_rows(32, 4, 2, "test"), gz=True)


def config(base, data, out, **overrides) -> RewardConfig:
    values = dict(model_name_or_path=str(base), data_path=str(data), output_dir=str(out), learning_rate=3e-3,
                  batch_size=4, num_epochs=3, logging_steps=4, save_steps=0, max_length=64, lr_scheduler="constant")
    values.update(overrides)
    return config_from_dict(RewardConfig, values)


# ---------------------------------------------------------------- the loss
def naive_loss(rewards, groups, margins, center):
    """Eq. 1 written the slow way: per prompt, the mean over core.ranking.ranked_pairs."""
    per_prompt = []
    for r, tiers, m in zip(rewards, groups, margins, strict=True):
        pairs = ranked_pairs(tiers)
        if not pairs:
            continue
        loss = sum(-torch.nn.functional.logsigmoid(r[a] - r[b] - m) for a, b in pairs) / len(pairs)
        if center:
            loss = loss + center * sum((r[a] + r[b]) ** 2 for a, b in pairs) / len(pairs)
        per_prompt.append(loss)
    return sum(per_prompt) / len(per_prompt)


@pytest.mark.parametrize("margin,center", [(False, None), (True, None), (False, 0.01), (True, 0.05)])
def test_kwise_loss_equals_mean_of_naive_pair_losses_with_ties(margin, center):
    gen = torch.Generator().manual_seed(0)
    groups = [[[2], [0, 3], [1]], [[0, 1, 2]], [[1], [0]], [[4, 0], [2], [3, 1, 5, 6, 7, 8]], [[3], [2], [1], [0]]]
    k_max = 9
    rewards = torch.randn(len(groups), k_max, generator=gen, dtype=torch.float64, requires_grad=True)
    levels = torch.full((len(groups), k_max), -1)
    for b, tiers in enumerate(groups):
        for lv, tier in enumerate(tiers):
            levels[b, tier] = lv
    margins = torch.rand(len(groups), generator=gen, dtype=torch.float64) if margin else torch.zeros(len(groups), dtype=torch.float64)
    fast, stats = kwise_reward_loss(rewards, levels, margins if margin else None, center)
    slow = naive_loss(rewards, groups, margins, center)
    assert stats["pairs"] == sum(len(ranked_pairs(t)) for t in groups) == 5 + 0 + 1 + 20 + 6
    torch.testing.assert_close(fast, slow)
    grad_fast, = torch.autograd.grad(fast, rewards)
    grad_slow, = torch.autograd.grad(slow, rewards)
    torch.testing.assert_close(grad_fast, grad_slow)
    assert grad_fast[1].abs().sum() == 0  # an all-tied prompt carries no weight


@pytest.mark.parametrize("lora", [False, True])
def test_shared_prompt_pass_gives_the_scores_and_gradients_of_full_sequences(tiny_base, snapshot, lora):
    from training.ml.reward import batch_rewards, collate, encode_groups, load_backbone

    cfg = config(tiny_base, snapshot, "/unused", lora_r=4 if lora else 0)
    model, tokenizer = load_backbone(cfg)
    groups, _ = load_ranked_groups(snapshot, "train")
    shared, _ = encode_groups(groups[:6], tokenizer, cfg, share_prompt=True)
    plain, _ = encode_groups(groups[:6], tokenizer, cfg, share_prompt=False)
    assert all(len(g["prompt"]) > 20 for g in shared) and all(not g["prompt"] for g in plain)
    results = []
    for encoded in (shared, plain):
        model.zero_grad()
        batch = collate(encoded, tokenizer.pad_token_id)
        assert ("prompt_ids" in batch) == (encoded is shared)
        rewards = batch_rewards(model, batch)
        loss, _ = kwise_reward_loss(rewards, batch["levels"])
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((rewards.detach(), loss.detach(), grads))
    (r1, l1, g1), (r2, l2, g2) = results
    torch.testing.assert_close(r1, r2, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(l1, l2, rtol=1e-5, atol=1e-6)
    assert g1.keys() == g2.keys() and len(g1) > 3
    for name in g1:
        torch.testing.assert_close(g1[name], g2[name], rtol=1e-3, atol=1e-5)


# ---------------------------------------------------------------- data
def test_truncation_keeps_the_end_of_the_completion(bundled_tokenizer):
    prompt = [{"role": "user", "content": "word " * 200}]
    full = encode_completion(bundled_tokenizer, prompt, "the final answer is superb", max_length=4096)
    cut = encode_completion(bundled_tokenizer, prompt, "the final answer is superb", max_length=24)
    assert len(full) > 200 and len(cut) == 24
    assert cut == full[-24:]
    assert "superb" in bundled_tokenizer.decode(cut)


def test_bad_rows_and_configs_are_refused_with_their_reason(tmp_path):
    bad = synthetic_rows(2, 3, 0)
    bad[1]["tiers"] = [[0], [1, 7]]
    write_snapshot(tmp_path, bad, [])
    with pytest.raises(DataError, match=r"train.jsonl line 2: tier index 7 out of range for 3 completions"):
        load_ranked_groups(tmp_path, "train")
    bad[1]["tiers"] = [[0], [0, 1]]
    write_snapshot(tmp_path, bad, [])
    with pytest.raises(DataError, match="completion 0 appears in two tiers"):
        load_ranked_groups(tmp_path, "train")
    with pytest.raises(DataError, match="no ranked_groups/validation"):
        load_ranked_groups(tmp_path, "validation")
    with pytest.raises(ConfigError, match="unknown field.*learning_rat\\b"):
        config_from_dict(RewardConfig, {"model_name_or_path": "x", "data_path": "d", "output_dir": "o", "learning_rat": 1})
    with pytest.raises(ConfigError, match="missing required field.*model_name_or_path"):
        config_from_dict(RewardConfig, {"data_path": "d", "output_dir": "o"})
    with pytest.raises(ConfigError, match="batch_size must be at least 1"):
        config_from_dict(RewardConfig, {"model_name_or_path": "x", "data_path": "d", "output_dir": "o", "batch_size": 0})


def test_command_line_refuses_bad_specs_with_an_error_event(tmp_path, capsys):
    from training.ml.reward import main

    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"model_name_or_path": "m", "data_path": str(tmp_path / "nowhere"), "output_dir": "o",
                                "batch_sise": 4}))
    assert main(["--config", str(spec)]) == 2
    assert json.loads(capsys.readouterr().out) == {"event": "error", "error": "RewardConfig: unknown field(s) batch_sise"}
    spec.write_text(json.dumps({"model_name_or_path": "m", "data_path": str(tmp_path / "nowhere"), "output_dir": "o"}))
    capsys.readouterr()
    assert main(["--config", str(spec)]) == 2
    event = json.loads(capsys.readouterr().out)
    assert event["event"] == "error" and event["error"].startswith("DataError: no ranked_groups/train")


# ---------------------------------------------------------------- training
def test_training_lowers_the_loss_changes_parameters_and_beats_chance(tiny_base, snapshot, tmp_path, capsys):
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    rows = synthetic_rows(64, 4, 1)
    rows[0]["tiers"] = [[0, 1, 2, 3]]  # all tied: nothing to learn, reported not dropped silently
    all_tied = sum(len(r["tiers"]) < 2 for r in rows)
    assert all_tied >= 1
    data = write_snapshot(tmp_path / "snap", rows, synthetic_rows(32, 4, 2, "test"))
    metrics = train(config(tiny_base, data, tmp_path / "run"))
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    logs = [e for e in events if e["event"] == "log"]
    assert events[0]["event"] == "start" and events[0]["skipped_prompts"] == all_tied and events[0]["snapshot_sha256"] == "snap-64"
    assert logs[-1]["loss"] < 0.6 * logs[0]["loss"] and logs[-1]["progress"] == 1.0
    assert events[-1]["event"] == "done" and metrics["skipped_prompts"] == all_tied
    assert metrics["eval_accuracy"] > 0.8 and metrics["eval_kendall_tau"] > 0.5 and metrics["eval_pairs"] > 100

    model_dir = tmp_path / "run" / "model"
    trained = load_file(model_dir / "model.safetensors")
    base = load_file(tiny_base / "model.safetensors")
    changed = [k for k in base if k in trained and not torch.equal(base[k], trained[k])]
    assert len(changed) > 10, changed

    # The saved reward model is a plain AutoModelForSequenceClassification that scores text.
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert model.config.num_labels == 1 and model.config.pad_token_id == tokenizer.pad_token_id
    prompt = [{"role": "user", "content": "Describe thing 3"}]
    texts = [tokenizer.apply_chat_template(prompt + [{"role": "assistant", "content": f"the cat {w}"}], tokenize=False)
             for w in ("awful", "superb")]
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        low, high = model(**batch).logits[:, 0].tolist()
    assert high > low
    meta = json.loads((model_dir / "ranklab.json").read_text())
    assert meta["snapshot_sha256"] == "snap-64" and meta["step"] == metrics["steps"] == 3 * 16


def test_frozen_layers_stay_put_and_lora_saves_a_plain_model(tiny_base, snapshot, tmp_path):
    from safetensors.torch import load_file

    base = load_file(tiny_base / "model.safetensors")
    train(config(tiny_base, snapshot, tmp_path / "frozen", freeze_layers=1, max_steps=4))
    frozen = load_file(tmp_path / "frozen" / "model" / "model.safetensors")
    assert torch.equal(frozen["model.embed_tokens.weight"], base["model.embed_tokens.weight"])
    assert torch.equal(frozen["model.layers.0.mlp.up_proj.weight"], base["model.layers.0.mlp.up_proj.weight"])
    assert not torch.equal(frozen["model.layers.1.mlp.up_proj.weight"], base["model.layers.1.mlp.up_proj.weight"])

    train(config(tiny_base, snapshot, tmp_path / "lora", lora_r=4, max_steps=4))
    merged = load_file(tmp_path / "lora" / "model" / "model.safetensors")
    assert not any("lora" in k for k in merged) and "score.weight" in merged
    assert not torch.equal(merged["model.layers.1.mlp.up_proj.weight"], base["model.layers.1.mlp.up_proj.weight"])


def test_command_line_run_killed_mid_training_resumes_from_its_checkpoint(tiny_base, snapshot, tmp_path):
    """SIGKILL after the first checkpoint; the rerun starts from it and ends with the same
    weights as an uninterrupted run."""
    from safetensors.torch import load_file

    def spec(out):
        path = tmp_path / f"{out}.json"
        cfg = config(tiny_base, snapshot, tmp_path / out, save_steps=4, num_epochs=6)
        path.write_text(json.dumps(cfg.__dict__))
        return path

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "training.ml.reward", "--config"]
    proc = subprocess.Popen(cmd + [str(spec("crashed"))], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    for line in proc.stdout:
        if json.loads(line)["event"] == "checkpoint":
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "crashed" / "model").exists()

    resumed = subprocess.run(cmd + [str(spec("crashed"))], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    events = [json.loads(line) for line in resumed.stdout.splitlines()]
    assert events[0]["resumed_from_step"] >= 4
    assert events[-1]["event"] == "done" and events[-1]["metrics"]["steps"] == 96

    straight = subprocess.run(cmd + [str(spec("straight"))], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert straight.returncode == 0, straight.stderr[-2000:]
    a = load_file(tmp_path / "crashed" / "model" / "model.safetensors")
    b = load_file(tmp_path / "straight" / "model" / "model.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)


def test_resume_refuses_a_checkpoint_from_another_snapshot(tiny_base, snapshot, tmp_path):
    train(config(tiny_base, snapshot, tmp_path / "run", max_steps=2))
    other = write_snapshot(tmp_path / "other", synthetic_rows(8, 4, 5), [])
    with pytest.raises(ConfigError, match="was trained on export snapshot snap-64, not snap-8"):
        train(config(tiny_base, other, tmp_path / "run", max_steps=2))
