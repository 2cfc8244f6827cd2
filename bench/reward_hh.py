"""Real data: a reward model on Anthropic HH-RLHF (harmless-base) from the bundled SmolLM2-135M,
Ranklab's trainer next to TRL's RewardTrainer with the same backbone, data, tokens and budget.

    RANKLAB_DATA_DIR=/tmp/rl-hh .venv/bin/python bench/reward_hh.py \
        [--model /tmp/smolconv/SmolLM2-135M-Instruct] [--train-pairs 256] [--test-pairs 192]

The 1,200 comparisons of ../shared/data/hh_rlhf_harmless_base_dev.jsonl.gz go through the product:
imported into a project (`exports.services.imports`, format hh-rlhf), then exported as a snapshot
in the ranked-groups format with a test split by prompt (`exports.services.snapshots`, --test-ratio),
on a throw-away SQLite database. Both trainers read that snapshot (K=2: prompt = the dialogue before
the last Assistant turn, completions = the two final replies). CPU budget: the lower layers are
frozen (--freeze), sequences keep their last --max-length tokens, one epoch. Both trainers see the
same token ids and the same initial head; held-out accuracy is scored by the same code.
Prints both accuracies, their 95 % Wilson intervals, and chance (50 %).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "hh_rlhf_harmless_base_dev.jsonl.gz"


def snapshot_via_product(work: Path, test_ratio: float) -> Path:
    """Import the HH-RLHF file into a fresh project and export it as ranked groups, split by
    prompt; returns the snapshot directory."""
    os.environ["RANKLAB_DATA_DIR"] = str(work / "ranklab-data")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)  # the embedded default: SQLite under RANKLAB_DATA_DIR
    import django

    django.setup()
    from django.core.management import call_command

    from annotate.services.projects import project_create
    from exports.models import ExportSnapshot
    from exports.services.imports import import_file, import_options_check
    from exports.services.snapshots import export_start
    from jobs.services import job_run

    call_command("migrate", verbosity=0)
    project = project_create(name="HH-RLHF harmless-base (dev)", task_kinds=["ranking"], k=2)
    result = import_file(project=project, path=DATA, options=import_options_check(
        kind="preferences", fmt="hh-rlhf", filename=DATA.name))
    job = job_run(job_id=export_start(project=project, options={
        "formats": ["ranked_groups"], "test_ratio": test_ratio}).pk)
    if job.status != "succeeded":
        raise SystemExit(f"export failed: {job.error}")
    snapshot = ExportSnapshot.objects.get(pk=job.result["snapshot_id"])
    print(f"  imported {result['rankings_created']} comparisons; export v{snapshot.version} "
          f"sha256 {snapshot.sha256[:12]}", flush=True)
    return Path(snapshot.path)


def write_groups(path: Path, groups) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps({"id": g.id, "prompt_id": g.prompt_id, "prompt": g.prompt,
                                          "completions": g.completions, "tiers": g.tiers}) for g in groups) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="/tmp/smolconv/SmolLM2-135M-Instruct")
    parser.add_argument("--train-pairs", type=int, default=0, help="cap on training comparisons (0: all)")
    parser.add_argument("--test-pairs", type=int, default=0, help="cap on held-out comparisons (0: all)")
    parser.add_argument("--test-ratio", type=float, default=0.3, help="the export's test split, by prompt")
    parser.add_argument("--max-length", type=int, default=128)
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
    from training.ml.data import encode_completion, load_ranked_groups
    from training.ml.evaluate import pairwise_accuracy, score_groups, wilson_interval
    from training.ml.reward import RewardConfig, freeze_lower_layers, train

    torch.set_num_threads(args.threads)
    quiet_transformers()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="reward-hh-") as tmp:
        work = Path(tmp)
        snapshot = snapshot_via_product(work, args.test_ratio)
        train_groups, _ = load_ranked_groups(snapshot, "train")
        test_groups, _ = load_ranked_groups(snapshot, "test")
        data_path = snapshot
        if args.train_pairs or args.test_pairs:  # a smaller budget: the first N of each split
            train_groups = train_groups[: args.train_pairs or None]
            test_groups = test_groups[: args.test_pairs or None]
            data_path = work / "subset"
            write_groups(data_path / "ranked_groups" / "train.jsonl", train_groups)
            write_groups(data_path / "ranked_groups" / "test.jsonl", test_groups)
        overlap = {g.prompt_id for g in train_groups} & {g.prompt_id for g in test_groups}
        assert not overlap, "the export's split by prompt leaked"
        print(f"reward_hh: {len(train_groups)} train / {len(test_groups)} test comparisons (split by prompt), "
              f"SmolLM2-135M with {args.freeze}/30 layers frozen, max_length {args.max_length} (keeping the end), "
              f"1 epoch, lr {args.lr}, {args.pairs_per_step} pairs per step, torch threads {args.threads}",
              flush=True)
        tokenizer = AutoTokenizer.from_pretrained(args.model)

        # Ranklab (K=2, so one prompt = one pair: the same number of steps and comparisons as TRL)
        t0 = time.time()
        config = config_from_dict(RewardConfig, dict(
            model_name_or_path=args.model, data_path=str(data_path), output_dir=str(work / "ranklab"),
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

    lo, hi = wilson_interval(ours["eval_accuracy"] * n, n)
    tlo, thi = wilson_interval(trl_acc * n, n)
    print(f"total {time.time() - started:.0f}s")
    print(f"reward_hh test_pairs={n} ranklab_acc={ours['eval_accuracy']:.3f} [{lo:.3f},{hi:.3f}] "
          f"trl_acc={trl_acc:.3f} [{tlo:.3f},{thi:.3f}] chance=0.500 "
          f"margin_over_chance={100 * (ours['eval_accuracy'] - 0.5):+.1f}pt")


if __name__ == "__main__":
    main()
