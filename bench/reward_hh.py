"""Real data: a reward model on Anthropic HH-RLHF (harmless-base) from the bundled SmolLM2-135M,
Ranklab's trainer next to TRL's RewardTrainer with the same backbone, data, tokens and budget.

    RANKLAB_DATA_DIR=/tmp/rl-hh .venv/bin/python bench/reward_hh.py \
        [--model /tmp/smolconv/SmolLM2-135M-Instruct] [--train-pairs 256] [--test-pairs 192]

The 1,200 comparisons of ../shared/data/hh_rlhf_harmless_base_dev.jsonl.gz become ranked groups
(K=2: prompt = the dialogue before the last Assistant turn, completions = the two final replies),
split by prompt (a prompt's comparisons all land on one side). CPU budget: the lower layers are
frozen (--freeze), sequences keep their last --max-length tokens, one epoch. Both trainers see the
same token ids and the same initial head; held-out accuracy is scored by the same code.
Prints both accuracies, their 95 % intervals, and chance (50 %).
"""
from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "hh_rlhf_harmless_base_dev.jsonl.gz"


def split_by_prompt(path: Path, test_share: float):
    from training.ml.data import hh_to_group

    with gzip.open(path, "rt") as fh:
        groups = [hh_to_group(json.loads(line), i) for i, line in enumerate(fh)]
    train, test = [], []
    for g in groups:
        bucket = int(hashlib.sha256(g.prompt_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (test if bucket < test_share else train).append(g)
    return train, test


def write_groups(path: Path, groups) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps({"id": g.id, "prompt_id": g.prompt_id, "prompt": g.prompt,
                                          "completions": g.completions, "tiers": g.tiers}) for g in groups) + "\n")


def wilson(p: float, n: int) -> tuple[float, float]:
    z = 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="/tmp/smolconv/SmolLM2-135M-Instruct")
    parser.add_argument("--train-pairs", type=int, default=256)
    parser.add_argument("--test-pairs", type=int, default=192)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--freeze", type=int, default=26, help="frozen lower decoder layers (SmolLM2 has 30)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--pairs-per-step", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig as TRLRewardConfig
    from trl import RewardTrainer

    from training.ml.common import config_from_dict, quiet_transformers
    from training.ml.data import encode_completion
    from training.ml.evaluate import pairwise_accuracy, score_groups
    from training.ml.reward import RewardConfig, freeze_lower_layers, train

    torch.set_num_threads(args.threads)
    quiet_transformers()
    started = time.time()
    train_groups, test_groups = split_by_prompt(DATA, test_share=0.3)
    train_groups, test_groups = train_groups[: args.train_pairs], test_groups[: args.test_pairs]
    overlap = {g.prompt_id for g in train_groups} & {g.prompt_id for g in test_groups}
    assert not overlap, "split by prompt leaked"
    print(f"reward_hh: {len(train_groups)} train / {len(test_groups)} test comparisons (split by prompt), "
          f"SmolLM2-135M with {args.freeze}/30 layers frozen, max_length {args.max_length} (keeping the end), "
          f"1 epoch, lr {args.lr}, {args.pairs_per_step} pairs per step, torch threads {args.threads}", flush=True)

    with tempfile.TemporaryDirectory(prefix="reward-hh-") as tmp:
        work = Path(tmp)
        write_groups(work / "snap" / "ranked_groups" / "train.jsonl", train_groups)
        write_groups(work / "snap" / "ranked_groups" / "test.jsonl", test_groups)
        tokenizer = AutoTokenizer.from_pretrained(args.model)

        # Ranklab (K=2, so one prompt = one pair: the same number of steps and comparisons as TRL)
        t0 = time.time()
        config = config_from_dict(RewardConfig, dict(
            model_name_or_path=args.model, data_path=str(work / "snap"), output_dir=str(work / "ranklab"),
            freeze_layers=args.freeze, max_length=args.max_length, learning_rate=args.lr, lr_scheduler="cosine",
            batch_size=args.pairs_per_step, num_epochs=1, logging_steps=8, save_steps=0, resume=False,
            seed=args.seed, eval_batch_size=32))
        with contextlib.redirect_stdout(io.StringIO()):
            ours = train(config)
        ours_time = time.time() - t0
        print(f"  ranklab: held-out accuracy {ours['eval_accuracy']:.3f}, loop {ours['loop_seconds']:.0f}s, "
              f"total {ours_time:.0f}s, Kendall τ {ours['eval_kendall_tau']:.3f}, ECE {ours['eval_ece']:.3f}", flush=True)

        # TRL RewardTrainer on the pair copy, the same token ids and initial head
        t0 = time.time()
        rows = []
        for g in train_groups:
            ids = [encode_completion(tokenizer, g.prompt, c, max_length=args.max_length) for c in g.completions]
            rows.append({"chosen_ids": ids[0], "rejected_ids": ids[1]})
        torch.manual_seed(args.seed)
        model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=1, dtype=torch.float32)
        model.config.pad_token_id = tokenizer.pad_token_id
        freeze_lower_layers(model, args.freeze)
        trl_config = TRLRewardConfig(
            output_dir=str(work / "trl"), per_device_train_batch_size=args.pairs_per_step, num_train_epochs=1,
            learning_rate=args.lr, lr_scheduler_type="cosine", weight_decay=0.0, max_grad_norm=1.0,
            optim="adamw_torch_fused", bf16=False, fp16=False, gradient_checkpointing=False, use_cpu=True,
            max_length=None, save_strategy="no", logging_steps=10_000, report_to="none", seed=args.seed,
            data_seed=args.seed, disable_tqdm=True)
        trainer = RewardTrainer(model=model, args=trl_config, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
        with contextlib.redirect_stdout(io.StringIO()):
            result = trainer.train()
        scores = score_groups(trainer.model, tokenizer, test_groups, max_length=args.max_length, batch_size=32)
        trl_acc, n = pairwise_accuracy(test_groups, scores)
        print(f"  trl:     held-out accuracy {trl_acc:.3f}, loop {result.metrics['train_runtime']:.0f}s, "
              f"total {time.time() - t0:.0f}s", flush=True)

    lo, hi = wilson(ours["eval_accuracy"], n)
    tlo, thi = wilson(trl_acc, n)
    print(f"total {time.time() - started:.0f}s")
    print(f"reward_hh test_pairs={n} ranklab_acc={ours['eval_accuracy']:.3f} [{lo:.3f},{hi:.3f}] "
          f"trl_acc={trl_acc:.3f} [{tlo:.3f},{thi:.3f}] chance=0.500 "
          f"margin_over_chance={100 * (ours['eval_accuracy'] - 0.5):+.1f}pt")


if __name__ == "__main__":
    main()
