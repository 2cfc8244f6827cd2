"""How well a round's reward model learns a simulated labelers' rule: the RM step alone, quick and repeatable.

    RANKLAB_DATA_DIR=/tmp/data-rm-rule .venv/bin/python bench/rm_rule.py --rule shorter \\
        [--config '{"cache_frozen": true, "num_epochs": 6}'] [--prompts 96] [--test-prompts 64] [--noise 0.1]

SmolLM2-135M-Instruct answers each prompt K=4 times (the evaluate step's sampler, as
bench/loop_bench.py measures policies: temperature 0.7, 48 new tokens); the prompts are
loop_bench's seed prompts after its held-out ones, --prompts for training, the next
--test-prompts for the held-out split. The candidates are cached in a JSON file and reused.
Each group is ranked by the rule the way a simulated labeler ranks a task
(training/services/simulation.py: rule tiers, then adjacent tiers swapped with probability
--noise), written as ranked_groups files (the export's format), and training/ml/reward.py trains
on them with the CPU preset's reward_config under --config. Printed: held-out pairwise accuracy
against the noisy labels (what a round reports) and against the noise-free rule, with 95 %
Wilson intervals, the ceiling the noise leaves (a scorer that knows the rule, judged by the
noisy labels), the training's wall time (without scoring the held-out split, whose size is the
bench's choice), the load, and as the last line:

    rm_rule rule=… acc=… acc_truth=… train_s=… load=… config={…}
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loop_bench import seed_prompts  # noqa: E402  (bench/, the script's own folder)

K = 4


def load() -> str:
    return os.popen("uptime").read().strip().split("load average:")[-1].strip()


def candidates(args, train: list[str], test: list[str]) -> dict[str, list[list[str]]]:
    """{"train": [[K answers] per prompt], "test": …}, from the cache file when it holds these prompts."""
    path = Path(args.candidates or f"/tmp/rm_rule/candidates-p{len(train)}-t{len(test)}-"
                f"T{args.temperature}-n{args.max_new_tokens}-s{args.seed}.json")
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("prompts") == {"train": train, "test": test} and cached.get("model") == args.model:
            return cached["answers"]
        raise SystemExit(f"{path} holds other prompts or another model: remove it or name another --candidates")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.services.evaluation import sample_answers

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    started = time.monotonic()
    answers = {}
    for split, prompts in (("train", train), ("test", test)):
        # each prompt K times in a row: a batch holds few distinct prompt lengths, so little padding
        repeated = [[{"role": "user", "content": p}] for p in prompts for _ in range(K)]
        texts = []
        for start in range(0, len(repeated), 64):  # a line per 64 answers: the sampling takes minutes
            out = sample_answers(model, tokenizer, repeated[start: start + 64], max_new_tokens=args.max_new_tokens,
                                 temperature=args.temperature, seed=args.seed + start, batch_size=16)
            texts += [text for _, _, text in out]
            print(f"  {split}: {len(texts)}/{len(repeated)} answers, {time.monotonic() - started:.0f}s", flush=True)
        answers[split] = [texts[i: i + K] for i in range(0, len(texts), K)]
    print(f"sampled {K} × {len(train) + len(test)} candidates in {time.monotonic() - started:.0f}s; load {load()}",
          flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"model": args.model, "prompts": {"train": train, "test": test},
                                "temperature": args.temperature, "max_new_tokens": args.max_new_tokens,
                                "answers": answers}, indent=1))
    return answers


def label(rule, prompts: list[str], answers: list[list[str]], noise: float, rng: random.Random, split: str):
    """(noisy rows, noise-free rows) of the ranked_groups format, one simulated labeler per task."""
    from training.ml.rules import flip_adjacent, rank_tiers

    noisy, truth = [], []
    for n, (prompt, texts) in enumerate(zip(prompts, answers, strict=True)):
        tiers = rank_tiers(rule, list(enumerate(texts)))
        row = {"id": f"{split}-{n}", "prompt_id": n, "prompt": [{"role": "user", "content": prompt}],
               "completions": texts, "labeler": "sim-1", "split": split}
        truth.append({**row, "tiers": tiers})
        noisy.append({**row, "tiers": flip_adjacent(tiers, noise, rng)})
    return noisy, truth


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rule", default="shorter")
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--prompts", type=int, default=96, help="Training prompts.")
    ap.add_argument("--test-prompts", type=int, default=64, help="Held-out prompts.")
    ap.add_argument("--skip", type=int, default=64, help="loop_bench's held-out prompts, never used here.")
    ap.add_argument("--config", default="{}", help="reward_config options (JSON) over the CPU preset's.")
    ap.add_argument("--model", default="/tmp/smolconv/SmolLM2-135M-Instruct")
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0, help="Sampling and labelling seed.")
    ap.add_argument("--candidates", help="Cache file of the sampled candidates (default: under /tmp/rm_rule).")
    ap.add_argument("--threads", type=int, default=1, help="torch threads: on a loaded machine one thread "
                    "waits for no other at each operation (0: torch's default).")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ.setdefault("RANKLAB_DATA_DIR", "/tmp/data-rm-rule")
    import django

    django.setup()  # the preset and the sampler live in training.services; no database is touched
    from training.ml.rules import parse_rule, rule_rate
    from training.services.rounds.presets import CPU_PRESET

    rule = parse_rule(args.rule)
    prompts = seed_prompts()[args.skip:]
    train, test = prompts[: args.prompts], prompts[args.prompts: args.prompts + args.test_prompts]
    if len(test) < args.test_prompts:
        raise SystemExit(f"only {len(train) + len(test)} seed prompts after the first {args.skip}")
    answers = candidates(args, train, test)
    rng = random.Random(args.seed)
    train_rows, _ = label(rule, train, answers["train"], args.noise, rng, "train")
    test_rows, truth_rows = label(rule, test, answers["test"], args.noise, rng, "test")
    flat = [t for group in answers["train"] + answers["test"] for t in group]
    print(f"rule {rule.spec}: base rate {rule_rate(rule, flat):.3f} over {len(flat)} candidates; "
          f"{sum(len(r['tiers']) > 1 for r in train_rows)}/{len(train_rows)} train and "
          f"{sum(len(r['tiers']) > 1 for r in test_rows)}/{len(test_rows)} test groups with a pair", flush=True)

    import torch

    import training.ml.evaluate as ev
    from training.ml import reward
    from training.ml.data import parse_group

    work = Path(tempfile.mkdtemp(prefix="rm_rule-"))
    overrides = json.loads(args.config)
    config = reward.RewardConfig(**{
        **CPU_PRESET["reward_config"], "logging_steps": 1, **overrides,  # logging_steps: as the round's job sets it
        "model_name_or_path": args.model, "data_path": str(write_rows(work / "data/ranked_groups/train.jsonl",
                                                                      train_rows).parent.parent),
        "eval_path": str(write_rows(work / "test.jsonl", test_rows)), "output_dir": str(work / "out"), "resume": False})
    # the held-out scores are caught on their way to the metrics, so the noise-free labels are
    # judged on the same scores without a second pass; that pass is timed to leave it out of train_s
    caught, score_groups = {}, ev.score_groups

    def catching(*a, **kw):
        tick = time.perf_counter()
        caught["scores"] = score_groups(*a, **kw)
        caught["seconds"] = caught.get("seconds", 0.0) + time.perf_counter() - tick
        return caught["scores"]

    ev.score_groups = catching
    load_before = load()
    print(f"training with {json.dumps(overrides)} over the preset; torch threads {torch.get_num_threads()}; "
          f"load {load_before}", flush=True)
    started = time.monotonic()
    with open(work / "train.log", "w") as log, contextlib.redirect_stdout(log):
        metrics = reward.train(config)
    wall = time.monotonic() - started
    shutil.rmtree(work / "out")  # the saved model is not needed, and each run's would fill /tmp
    load_after = load()
    train_s = metrics["train_seconds"] - caught["seconds"]

    truth_groups = [parse_group(r, "truth") for r in truth_rows]
    noisy_groups = [parse_group(r, "noisy") for r in test_rows]
    acc, n = ev.pairwise_accuracy(noisy_groups, caught["scores"])
    acc_truth, n_truth = ev.pairwise_accuracy(truth_groups, caught["scores"])
    assert abs(acc - metrics["eval_accuracy"]) < 1e-9, "the caught scores are not those the trainer judged"
    ceiling, _ = ev.pairwise_accuracy(noisy_groups, [[rule.score(t) for t in g.completions] for g in noisy_groups])
    for name, value, pairs in (("noisy labels", acc, n), ("noise-free rule", acc_truth, n_truth)):
        low, high = ev.wilson_interval(value * pairs, pairs)
        print(f"held-out accuracy vs {name}: {value:.3f} [{low:.3f}, {high:.3f}] on {pairs} pairs")
    print(f"ceiling under the noise (the rule itself judged by the noisy labels): {ceiling:.3f}")
    print(f"train: {metrics['steps']} steps, {metrics['epochs']:.1f} epochs, {metrics['train_prompts']} prompts "
          f"({metrics['skipped_prompts']} without a pair); {train_s:.0f}s without the held-out scoring "
          f"({caught['seconds']:.0f}s), loop {metrics['loop_seconds']:.0f}s, call {wall:.0f}s; "
          f"final train loss {metrics['history']['loss'][-1][1]:.3f}; load {load_before} → {load_after}; log {work}/train.log")
    compact = json.dumps(overrides, separators=(",", ":"))
    print(f"rm_rule rule={rule.spec} acc={acc:.3f} acc_truth={acc_truth:.3f} train_s={train_s:.0f} "
          f"load={load_after.split(',')[0]} config={compact}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
