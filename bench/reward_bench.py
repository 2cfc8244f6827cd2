"""Ranklab's K-wise reward trainer against TRL's RewardTrainer on the pair-expanded copy.

    RANKLAB_DATA_DIR=/tmp/rl-bench .venv/bin/python bench/reward_bench.py [--repeats 5]
    python bench/reward_bench.py --device cuda --base-config DIR --tokenizer-dir DIR [--mixed-precision bf16]

(--base-config: a random model built from DIR/config.json, e.g. SmolLM2-135M's full shape,
instead of the tiny one; --tokenizer-dir: a saved tokenizer instead of the bundled GGUF's;
--device: both trainers on that device, --mixed-precision: both in that autocast.)

Ranklab forwards each ranked completion once, after a single pass over the prompt its K
completions share (RewardConfig.share_prompt); TRL forwards prompt + completion twice per pair.
Same tiny random Llama (SmolLM2's shape, bundled tokenizer), same ranked data (64 training
prompts, K=4 and K=9, ties included; 64 held-out prompts), the same token ids, the same
initial weights, optimiser (torch's fused AdamW, cosine schedule, clipping at 1.0), epochs and
comparisons per optimiser step; repeat i seeds both trainers with seed + i. Runs alternate A/B
(ABBA order) so drifting machine load hits both alike.
Throughput counts comparisons (untied pairs) per second of training loop (wall clock, and per
CPU-second of this process, which other processes on a shared machine disturb less); held-out accuracy is
scored by the same code for both. Prints median comparisons/s, the ratio, sequences forwarded,
and as its last line:

    reward_bench K=9 ratio=… K4_ratio=… acc_delta=…

(acc_delta: Ranklab's median held-out accuracy minus TRL's, in points, pooled over K=4 and K=9.)
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = "the a cat dog sky tree river stone light music over under bright quiet".split()
QUALITY = ["awful", "bad", "poor", "weak", "fine", "decent", "good", "great", "superb"]


def synthetic_rows(n: int, k: int, seed: int) -> list[dict]:
    """The order of a prompt's completions is set by a quality word hidden among filler (equal
    words tie), with 15 % of the rankings' adjacent tiers swapped as labeler noise."""
    rng = random.Random(seed)
    rows = []
    for p in range(n):
        quality = [rng.randrange(len(QUALITY)) for _ in range(k)]
        completions = []
        for q in quality:
            words = [rng.choice(WORDS) for _ in range(rng.randint(6, 14))]
            words.insert(rng.randrange(len(words) + 1), QUALITY[q])
            completions.append(" ".join(words))
        levels = sorted(set(quality), reverse=True)
        tiers = [[i for i in range(k) if quality[i] == lv] for lv in levels]
        if len(tiers) > 1 and rng.random() < 0.15:
            j = rng.randrange(len(tiers) - 1)
            tiers[j], tiers[j + 1] = tiers[j + 1], tiers[j]
        rows.append({"id": f"b{seed}-{p}", "prompt_id": p, "prompt": [{"role": "user", "content": f"Describe item {p}."}],
                     "completions": completions, "tiers": tiers, "preference_strength": None,
                     "ratings": [None] * k, "labeler": "L1", "split": "train"})
    return rows


def write_snapshot(root: Path, train_rows, test_rows) -> Path:
    (root / "ranked_groups").mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train_rows), ("test", test_rows)):
        (root / "ranked_groups" / f"{name}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root


def run_ranklab(base: Path, data: Path, out: Path, args, prompts_per_step: int) -> dict:
    from training.ml.common import config_from_dict
    from training.ml.reward import RewardConfig, train

    config = config_from_dict(RewardConfig, dict(
        model_name_or_path=str(base), data_path=str(data), output_dir=str(out), learning_rate=args.lr,
        batch_size=prompts_per_step, num_epochs=args.epochs, lr_scheduler=args.scheduler, max_length=args.max_length,
        logging_steps=10_000, save_steps=0, resume=False, seed=args.seed, device=args.device,
        mixed_precision=args.mixed_precision))
    with contextlib.redirect_stdout(io.StringIO()):  # its JSON lines are not this report
        metrics = train(config)
    return {"seconds": metrics["loop_seconds"], "cpu_seconds": metrics["loop_cpu_seconds"], "comparisons": metrics["comparisons_trained"],
            "sequences": metrics["sequences_forwarded"], "prompt_passes": metrics["shared_prompt_passes"],
            "accuracy": metrics["eval_accuracy"]}


def run_trl(base: Path, data: Path, out: Path, args, pairs_per_step: int) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig as TRLRewardConfig
    from trl import RewardTrainer

    from training.ml.data import encode_completion, load_ranked_groups
    from training.ml.evaluate import pairwise_accuracy, score_groups

    tokenizer = AutoTokenizer.from_pretrained(base)
    groups, _ = load_ranked_groups(data, "train")
    rows = []
    for g in groups:
        ids = [encode_completion(tokenizer, g.prompt, c, max_length=args.max_length) for c in g.completions]
        rows += [{"chosen_ids": ids[a], "rejected_ids": ids[b]} for a, b in g.pairs()]
    torch.manual_seed(args.seed)  # the same scalar-head init as Ranklab's load_backbone
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    config = TRLRewardConfig(
        output_dir=str(out), per_device_train_batch_size=pairs_per_step, num_train_epochs=args.epochs,
        learning_rate=args.lr, lr_scheduler_type=args.scheduler, warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0,
        optim="adamw_torch_fused", bf16=args.mixed_precision == "bf16", fp16=args.mixed_precision == "fp16",
        gradient_checkpointing=False, use_cpu=args.device == "cpu", max_length=None,
        save_strategy="no", logging_steps=10_000, report_to="none", seed=args.seed, data_seed=args.seed,
        dataloader_num_workers=0, disable_tqdm=True,
    )
    from transformers import TrainerCallback

    cpu = {}

    class CpuClock(TrainerCallback):  # the CPU time of the training loop, as train_runtime is its wall time
        def on_train_begin(self, *a, **k):
            cpu["start"] = time.process_time()

        def on_train_end(self, *a, **k):
            cpu["seconds"] = time.process_time() - cpu["start"]

    trainer = RewardTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                            callbacks=[CpuClock()])
    with contextlib.redirect_stdout(io.StringIO()):  # its final metrics dict
        result = trainer.train()
    test, _ = load_ranked_groups(data, "test")
    accuracy, _ = pairwise_accuracy(test, score_groups(trainer.model, tokenizer, test, max_length=args.max_length))
    return {"seconds": result.metrics["train_runtime"], "cpu_seconds": cpu["seconds"], "comparisons": len(rows) * args.epochs,
            "sequences": 2 * len(rows) * args.epochs, "accuracy": accuracy}


def bench_k(k: int, base: Path, work: Path, args) -> dict:
    data = write_snapshot(work / f"k{k}", synthetic_rows(64, k, 1), synthetic_rows(64, k, 2))
    pairs = sum(len(r["tiers"][i]) * len(t) for r in synthetic_rows(64, k, 1)
                for i in range(len(r["tiers"])) for t in r["tiers"][i + 1:])
    prompts_per_step = args.prompts_per_step
    pairs_per_step = max(1, round(pairs / 64 * prompts_per_step))  # the same comparisons per optimiser step
    runs = {"ranklab": []} if args.skip_trl else {"ranklab": [], "trl": []}
    if k == 4:  # one untimed run of each first: one-time costs (lazy imports, first kernels) are not throughput
        warm = argparse.Namespace(**{**vars(args), "epochs": 1})
        run_ranklab(base, data, Path(tempfile.mkdtemp(dir=work)), warm, prompts_per_step)
        if not args.skip_trl:
            run_trl(base, data, Path(tempfile.mkdtemp(dir=work)), warm, pairs_per_step)
    for rep in range(args.repeats):
        order = ["ranklab", "trl"] if rep % 2 == 0 else ["trl", "ranklab"]
        order = [n for n in order if n in runs]
        for name in order:
            out = Path(tempfile.mkdtemp(dir=work, prefix=f"{name}-k{k}-"))
            fn = run_ranklab if name == "ranklab" else run_trl
            seeded = argparse.Namespace(**{**vars(args), "seed": args.seed + rep})  # A and B share the seed
            r = fn(base, data, out, seeded, prompts_per_step if name == "ranklab" else pairs_per_step)
            r["rate"] = r["comparisons"] / r["seconds"]
            r["cpu_rate"] = r["comparisons"] / r["cpu_seconds"]
            runs[name].append(r)
            print(f"  K={k} rep {rep} {name:8s} {r['comparisons']:6d} comparisons in {r['seconds']:6.2f}s = "
                  f"{r['rate']:8.1f}/s ({r['cpu_rate']:8.1f}/CPU-s), {r['sequences']:6d} sequences, held-out acc {r['accuracy']:.3f}", flush=True)
    if args.skip_trl:
        rate = statistics.median(r["rate"] for r in runs["ranklab"])
        acc = statistics.median(r["accuracy"] for r in runs["ranklab"])
        print(f"K={k}: median comparisons/s ranklab={rate:.1f} (TRL skipped); sequences forwarded "
              f"{runs['ranklab'][0]['sequences']} completions (+{runs['ranklab'][0]['prompt_passes']} shared prompt passes); "
              f"held-out accuracy {acc:.3f}; {prompts_per_step} prompts per step", flush=True)
        nan = float("nan")
        return {"ratio": nan, "cpu_ratio": nan, "acc": {"ranklab": acc, "trl": nan}, "pairs": pairs}
    med = {n: statistics.median(r["rate"] for r in rs) for n, rs in runs.items()}
    acc = {n: statistics.median(r["accuracy"] for r in rs) for n, rs in runs.items()}
    seqs = {n: rs[0]["sequences"] for n, rs in runs.items()}
    prompt_passes = runs["ranklab"][0]["prompt_passes"]
    ratio = med["ranklab"] / med["trl"]
    cpu_med = {n: statistics.median(r["cpu_rate"] for r in rs) for n, rs in runs.items()}
    cpu_ratio = cpu_med["ranklab"] / cpu_med["trl"]
    paired = statistics.median(a["rate"] / b["rate"] for a, b in zip(runs["ranklab"], runs["trl"], strict=True))
    print(f"K={k}: median comparisons/s ranklab={med['ranklab']:.1f} trl={med['trl']:.1f} ratio={ratio:.2f} "
          f"(median of paired ratios {paired:.2f}; per CPU-second {cpu_ratio:.2f}); "
          f"sequences forwarded ranklab={seqs['ranklab']} completions (+{prompt_passes} shared prompt passes) "
          f"trl={seqs['trl']}; "
          f"held-out accuracy ranklab={acc['ranklab']:.3f} trl={acc['trl']:.3f}; "
          f"{pairs_per_step} pairs per TRL step, {prompts_per_step} prompts per Ranklab step", flush=True)
    return {"ratio": ratio, "cpu_ratio": cpu_ratio, "acc": acc, "pairs": pairs}


def random_model_from_config(config_dir: str, seed: int = 0):
    """Random weights in the architecture of config_dir/config.json (no weights are read)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(config_dir), dtype=torch.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--prompts-per-step", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=96)
    parser.add_argument("--scheduler", default="cosine", help="for both trainers")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--device", default="cpu", help="cpu or cuda, for both trainers")
    parser.add_argument("--mixed-precision", default="no", choices=["no", "bf16", "fp16"], help="for both trainers")
    parser.add_argument("--tokenizer-dir", default=None, help="a saved tokenizer (default: the bundled GGUF's)")
    parser.add_argument("--skip-trl", action="store_true", help="Ranklab alone (where trl/datasets are missing)")
    parser.add_argument("--base-config", default=None,
                        help="directory with a config.json: the random model is built from it (default: a tiny Llama)")
    args = parser.parse_args()

    import torch

    from training.ml.bundled import load_tokenizer, tiny_random_model
    from training.ml.common import quiet_transformers

    torch.set_num_threads(args.threads)
    quiet_transformers()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="reward-bench-") as tmp:
        work = Path(tmp)
        if args.tokenizer_dir:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(args.tokenizer_dir)
        else:
            tokenizer = load_tokenizer()
        if args.base_config:
            model = random_model_from_config(args.base_config)
            c = model.config
            shape = (f"random {c.model_type} from {args.base_config} (hidden {c.hidden_size}, {c.num_hidden_layers} layers, "
                     f"{sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters)")
        else:
            model = tiny_random_model(len(tokenizer))
            shape = "tiny Llama (hidden 32, 2 layers)"
        model.save_pretrained(work / "base")
        del model
        tokenizer.save_pretrained(work / "base")
        where = args.device if args.device == "cpu" else f"{args.device} ({torch.cuda.get_device_name(0)})"
        print(f"reward_bench: {shape}, {args.epochs} epochs, lr {args.lr}, "
              f"{args.repeats} alternated repeats, torch threads {args.threads}, device {where}, "
              f"mixed precision {args.mixed_precision}, torch {torch.__version__}", flush=True)
        k4 = bench_k(4, work / "base", work, args)
        k9 = bench_k(9, work / "base", work, args)
    delta = 100 * ((k4["acc"]["ranklab"] + k9["acc"]["ranklab"]) - (k4["acc"]["trl"] + k9["acc"]["trl"])) / 2
    print(f"total {time.time() - started:.0f}s; load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"per CPU-second (robust to other processes): K=9 ratio={k9['cpu_ratio']:.2f} K4_ratio={k4['cpu_ratio']:.2f}")
    print(f"reward_bench K=9 ratio={k9['ratio']:.2f} K4_ratio={k4['ratio']:.2f} acc_delta={delta:+.1f}")


if __name__ == "__main__":
    main()
