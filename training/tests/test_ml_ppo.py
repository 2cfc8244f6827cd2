"""PPO-ptx (training/ml/ppo.py) on a tiny random Llama with SmolLM2's tokenizer, on CPU.

A toy world: the "SFT model" is the tiny model fitted for a few steps to demonstrations made of
six animal/nature words; the toy reward counts " cat" in the answer. PPO should raise that count
with the KL to the SFT model bounded, and the ptx term should keep the demonstrations likely.
"""
import copy
import json
import math
import random
import subprocess
import sys

import pytest
import torch

from training.ml import common, ppo
from training.ml.bundled import tiny_random_model

WORDS = [" cat", " dog", " fish", " bird", " tree", " sun"]


@pytest.fixture(scope="module")
def toy(bundled_tokenizer):
    torch.set_num_threads(1)
    rng = random.Random(0)
    demos = [[{"role": "user", "content": f"Q{i}:"},
              {"role": "assistant", "content": "".join(rng.choice(WORDS) for _ in range(6))}] for i in range(32)]
    model = tiny_random_model(len(bundled_tokenizer), hidden=32, layers=2, heads=2, seed=0)
    batch = ppo.demo_batch(bundled_tokenizer, demos, 64, use_chat_template=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(30):  # the "SFT" step of the pipeline, in miniature
        loss = ppo.demo_nll(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    cat = bundled_tokenizer(" cat", add_special_tokens=False).input_ids[0]

    def reward(prompts, answers, answer_ids):
        return [float(ids.count(cat)) for ids in answer_ids]

    return {"model": model, "demos": demos, "prompts": [d[0]["content"] for d in demos], "batch": batch,
            "reward": reward, "tokenizer": bundled_tokenizer}


def toy_config(**overrides):
    base = dict(model_name_or_path="", use_chat_template=False, steps=16, batch_size=8, mini_batch_size=8,
                ppo_epochs=2, learning_rate=1e-3, max_new_tokens=10, ptx_batch_size=8, seed=0)
    return ppo.PPOConfig(**{**base, **overrides})


def run_toy(toy, **overrides):
    """Train a copy of the toy SFT model; returns the log events and the demonstrations' NLL,
    averaged over the last three steps (the NLL is noisy from one step to the next)."""
    policy = copy.deepcopy(toy["model"])
    events, nll = [], []
    config = toy_config(**overrides)

    def emit(event):
        events.append(event)
        if event.get("event") == "log" and event["step"] > config.steps - 3:
            with torch.no_grad():
                nll.append(ppo.demo_nll(policy, toy["batch"]).item())

    ppo.train(config, policy=policy, tokenizer=toy["tokenizer"], reward_fn=toy["reward"], prompts=toy["prompts"],
              demos=toy["demos"], emit=emit)
    return [e for e in events if e.get("event") == "log"], sum(nll) / len(nll), events


@pytest.fixture(scope="module")
def runs(toy):
    with torch.no_grad():
        start_nll = ppo.demo_nll(toy["model"], toy["batch"]).item()
    return {"start_nll": start_nll, 0.0: run_toy(toy, ptx_coef=0.0), 1.0: run_toy(toy, ptx_coef=1.0)}


def test_ppo_raises_the_toy_reward_with_bounded_kl(runs):
    logs, _, events = runs[0.0]
    assert [e["step"] for e in logs] == list(range(1, 17))
    first = sum(e["reward"] for e in logs[:4]) / 4
    last = sum(e["reward"] for e in logs[-4:]) / 4
    print(f"toy reward {first:.2f} -> {last:.2f}, max KL {max(e['kl'] for e in logs):.2f}")
    assert last > first + 1.0, (first, last)
    kls = [e["kl"] for e in logs]
    assert all(math.isfinite(k) for k in kls) and max(kls) < 20.0, kls
    for key in ("reward", "kl", "policy_loss", "value_loss", "entropy", "clip_fraction"):
        assert all(math.isfinite(e[key]) for e in logs), key
    assert events[-1]["event"] == "done" and events[-1]["metrics"]["history"]["reward"][-1][0] == 16


def test_ptx_term_limits_the_alignment_tax(runs):
    tax_plain = runs[0.0][1] - runs["start_nll"]
    tax_ptx = runs[1.0][1] - runs["start_nll"]
    print(f"alignment tax (demo NLL increase): ptx 0 -> {tax_plain:.3f}, ptx 1 -> {tax_ptx:.3f}")
    assert tax_plain > 0.1, "PPO without ptx should make the demonstrations less likely"
    assert tax_ptx < tax_plain / 2, (tax_ptx, tax_plain)
    assert all("ptx_loss" in e for e in runs[1.0][0]) and not any("ptx_loss" in e for e in runs[0.0][0])


def test_gae_matches_the_recursion_by_hand():
    rewards = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    values = torch.tensor([[0.5, 0.2, 0.1, 9.0]])  # the 4th token is past the answer's end: ignored
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    adv, ret = ppo.gae(rewards, values, mask, gamma=1.0, lam=0.5)
    d2 = 1.0 - 0.1
    d1 = 0.0 + 0.1 - 0.2
    d0 = 0.0 + 0.2 - 0.5
    expected = [d0 + 0.5 * (d1 + 0.5 * d2), d1 + 0.5 * d2, d2, 0.0]
    assert adv[0].tolist() == pytest.approx(expected)
    assert ret[0, :3].tolist() == pytest.approx([e + v for e, v in zip(expected, [0.5, 0.2, 0.1], strict=False)])


def test_clipped_objective_stops_pushing_past_the_clip():
    mask = torch.ones(1, 2)
    old = torch.zeros(1, 2)
    adv = torch.tensor([[1.0, -1.0]])
    logp = torch.log(torch.tensor([[1.5, 0.5]])).requires_grad_()  # ratios 1.5 and 0.5: both outside 0.8..1.2
    pg, _, clip = ppo.ppo_loss(logp, old, torch.zeros(1, 2), old, adv, old, mask, 0.2, 0.2)
    pg.backward()
    assert pg.item() == pytest.approx((-1.2 + 0.8) / 2)  # −min(r·A, clip(r)·A), per token
    assert logp.grad.abs().sum().item() == 0.0 and clip.item() == 1.0


def test_forward_answer_matches_a_plain_forward(toy):
    """Left padding, explicit positions and logits for the answer only give the log-probs of the
    unpadded sequence's full forward."""
    model = toy["model"]
    head = ppo.ValueHead(model.config.hidden_size)
    seq = torch.tensor([[2, 2, 50, 60, 70, 80], [11, 12, 50, 60, 70, 80]])  # row 0: two pad tokens on the left
    attn = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    logp, values, entropy = ppo.forward_answer(model, head, seq, attn, prompt_len=3, temperature=1.0)
    assert logp.shape == values.shape == entropy.shape == (2, 3)
    with torch.no_grad():
        plain = model(seq[:1, 2:]).logits.log_softmax(-1)  # the same sequence without its padding
    expected = plain[0, :-1].gather(1, seq[0, 3:, None])[:, 0]
    assert logp[0].tolist() == pytest.approx(expected.tolist(), abs=1e-5)
    assert (entropy > 0).all()


def test_demo_nll_counts_answer_tokens_only(toy):
    tok, model = toy["tokenizer"], toy["model"]
    demos = [[{"role": "user", "content": "Q1:"}, {"role": "assistant", "content": " cat"}],
             [{"role": "user", "content": "A much longer question here:"}, {"role": "assistant", "content": " dog fish"}]]
    total, count = 0.0, 0
    with torch.no_grad():
        for msgs in demos:  # one unpadded sequence at a time, the slow way
            p = tok(msgs[0]["content"], add_special_tokens=False).input_ids
            c = tok(msgs[1]["content"], add_special_tokens=False).input_ids + [tok.eos_token_id]
            logp = model(torch.tensor([p + c])).logits[0].log_softmax(-1)
            total -= sum(logp[len(p) - 1 + i, t].item() for i, t in enumerate(c))
            count += len(c)
        batched = ppo.demo_nll(model, ppo.demo_batch(tok, demos, 64, use_chat_template=False)).item()
    assert batched == pytest.approx(total / count, abs=1e-4)


def test_answer_mask_keeps_the_first_eos():
    assert ppo.answer_mask(torch.tensor([[5, 2, 2, 2], [5, 6, 7, 8]]), eos_id=2).tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]


def test_checkpoints_resume_and_refuse_another_snapshot(toy, tmp_path):
    out = tmp_path / "run"
    small = dict(steps=2, batch_size=2, mini_batch_size=2, ppo_epochs=1, max_new_tokens=4, save_steps=1,
                 output_dir=str(out), snapshot_sha256="aaa")
    events = []
    ppo.train(toy_config(**small), policy=copy.deepcopy(toy["model"]), tokenizer=toy["tokenizer"],
              reward_fn=toy["reward"], prompts=toy["prompts"], emit=events.append)
    meta = json.loads((out / "checkpoints" / "step-0000002" / "meta.json").read_text())
    assert meta["snapshot_sha256"] == "aaa" and meta["step"] == 2 and meta["config"]["steps"] == 2
    assert not (out / "checkpoints" / "step-0000001").exists()  # save_total_limit=1
    saved = json.loads((out / "model" / "ranklab.json").read_text())
    assert saved["method"] == "ppo" and saved["snapshot_sha256"] == "aaa"
    assert (out / "model" / "value_head.pt").exists() and (out / "model" / "model.safetensors").exists()

    events = []
    ppo.train(toy_config(**{**small, "steps": 3}), policy=copy.deepcopy(toy["model"]), tokenizer=toy["tokenizer"],
              reward_fn=toy["reward"], prompts=toy["prompts"], emit=events.append)
    assert [e["step"] for e in events if e["event"] == "log"] == [3]  # steps 1-2 came from the checkpoint
    assert events[-1]["metrics"]["history"]["reward"][0][0] == 1

    with pytest.raises(common.ConfigError, match="was trained on export snapshot aaa.*use a new output_dir"):
        ppo.train(toy_config(**{**small, "snapshot_sha256": "bbb"}), policy=copy.deepcopy(toy["model"]),
                  tokenizer=toy["tokenizer"], reward_fn=toy["reward"], prompts=toy["prompts"], emit=events.append)


def test_config_errors_are_explained():
    with pytest.raises(common.ConfigError, match="batch_size must be a multiple of mini_batch_size"):
        common.config_from_dict(ppo.PPOConfig, {"model_name_or_path": "x", "batch_size": 6, "mini_batch_size": 4})
    with pytest.raises(common.ConfigError, match="unknown field.*kl_ceof"):
        common.config_from_dict(ppo.PPOConfig, {"model_name_or_path": "x", "kl_ceof": 0.1})


def test_cli_with_a_reward_model_directory_and_a_snapshot(bundled_tokenizer, tmp_path):
    """The job runner's path: `python -m training.ml.ppo --config spec.json` on an export snapshot,
    scoring with a saved reward model, JSON lines on stdout, the model under <output_dir>/model."""
    from transformers import AutoModelForSequenceClassification, LlamaConfig

    tok = bundled_tokenizer
    tiny_random_model(len(tok), hidden=16, layers=1, heads=2).save_pretrained(tmp_path / "policy")
    tok.save_pretrained(tmp_path / "policy")
    torch.manual_seed(0)
    rm = AutoModelForSequenceClassification.from_config(LlamaConfig(
        vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, num_labels=1, pad_token_id=tok.pad_token_id))
    rm.save_pretrained(tmp_path / "rm")
    tok.save_pretrained(tmp_path / "rm")
    snap = tmp_path / "snapshot"
    (snap / "ranked_groups").mkdir(parents=True)
    (snap / "manifest.json").write_text(json.dumps({"sha256": "cafe" * 16}))
    rows = [{"prompt": [{"role": "user", "content": f"Name an animal, please ({i})."}], "completions": ["cat", "dog"],
             "tiers": [[0], [1]]} for i in range(3)]
    (snap / "ranked_groups" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {"model_name_or_path": str(tmp_path / "policy"), "reward_model_path": str(tmp_path / "rm"),
            "data_path": str(snap), "output_dir": str(tmp_path / "out"), "steps": 2, "batch_size": 2,
            "mini_batch_size": 1, "ppo_epochs": 1, "max_new_tokens": 4, "learning_rate": 1e-3}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    proc = subprocess.run([sys.executable, "-m", "training.ml.ppo", "--config", str(tmp_path / "spec.json")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    events = [json.loads(line) for line in proc.stdout.splitlines()]  # stdout is JSON lines only
    assert [e["event"] for e in events if e["event"] != "phase"] == ["start", "log", "log", "checkpoint", "done"]
    assert [e["message"] for e in events if e["event"] == "phase"] == ["loading the policy", "loading the reward model",
                                                                       "encoding 3 prompts"]
    assert events[-1]["model_dir"] == str(tmp_path / "out" / "model")
    meta = json.loads((tmp_path / "out" / "model" / "ranklab.json").read_text())
    assert meta["snapshot_sha256"] == "cafe" * 16 and meta["step"] == 2
