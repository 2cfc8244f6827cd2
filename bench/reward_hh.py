"""Real data at equal wall-clock: a reward model on Anthropic HH-RLHF (harmless-base) from the
bundled SmolLM2-135M, Ranklab's trainer next to TRL's RewardTrainer with the same backbone, the
same frozen layers, the same token ids, the same held-out split and the same budget.

    .venv/bin/python -m training.ml.bundled /tmp/smolconv/SmolLM2-135M-Instruct      # once
    .venv/bin/python bench/reward_hh.py --budget-seconds 600 [--model DIR] [--freeze 26]

The 1,200 comparisons of data/examples/hh_rlhf_harmless_base_dev.jsonl.gz (the built-in example)
go through the product: imported into a project (`exports.services.imports`, format hh-rlhf),
then exported as a ranked-groups snapshot with a test split by prompt (`exports.services.snapshots`,
--test-ratio), on a throw-away SQLite database. Both trainers read that snapshot (K=2: prompt =
the dialogue before the last Assistant turn, completions = the two final replies), keeping the
last --max-length tokens of each sequence, with the lower --freeze layers frozen.

Each trainer gets --budget-seconds of wall-clock from the start of its training (model loading
and tokenising not counted, held-out scoring not counted) and trains as many steps as fit, with
a cosine schedule sized to them:
- Ranklab: `max_seconds` (it measures its first steps and sizes the schedule itself), with the
  frozen lower layers computed once per sequence (`cache_frozen`) inside the budget;
- TRL: its step time is measured first on a throw-away run (not counted), then `max_steps` is
  what fits, and a callback stops it at the budget in any case.
Held-out accuracy is scored by the same code for both; the floor is the accuracy of "the shorter
answer wins" on the same held-out split. Last line:
`reward_hh budget_s=… ranklab_acc=… trl_acc=… floor=…`.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "data" / "examples" / "hh_rlhf_harmless_base_dev.jsonl.gz"


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


def shorter_wins_floor(groups) -> float:
    """Held-out accuracy of "the shorter answer is better" (equal lengths count half)."""
    hits = 0.0
    for g in groups:
        best, worst = len(g.completions[g.tiers[0][0]]), len(g.completions[g.tiers[1][0]])
        hits += 1.0 if best < worst else 0.5 if best == worst else 0.0
    return hits / len(groups)


def trl_run(args, tokenizer, rows, work: Path, *, max_steps: int, budget_s: float | None):
    """TRL's RewardTrainer on the given token ids: (trainer, seconds per step after the first,
    seconds from the start of train() to its end)."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, TrainerCallback
    from trl import RewardConfig as TRLRewardConfig
    from trl import RewardTrainer

    from training.ml.reward import freeze_lower_layers

    class Clock(TrainerCallback):
        def __init__(self):
            self.start, self.ticks = None, []

        def on_train_begin(self, targs, state, control, **kw):
            self.start = time.perf_counter()

        def on_step_end(self, targs, state, control, **kw):
            self.ticks.append(time.perf_counter())
            if budget_s and self.ticks[-1] - self.start > budget_s:
                control.should_training_stop = True

    torch.manual_seed(args.seed)
    model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=1, dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    freeze_lower_layers(model, args.freeze)
    config = TRLRewardConfig(
        output_dir=str(work / "trl"), per_device_train_batch_size=args.pairs_per_step, num_train_epochs=1000,
        max_steps=max_steps, learning_rate=args.lr, lr_scheduler_type="cosine", weight_decay=0.0, max_grad_norm=1.0,
        optim="adamw_torch_fused", bf16=False, fp16=False, gradient_checkpointing=False, use_cpu=True,
        max_length=None, save_strategy="no", logging_steps=10_000, report_to="none", seed=args.seed,
        data_seed=args.seed, disable_tqdm=True)
    clock = Clock()
    trainer = RewardTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                            callbacks=[clock])
    with contextlib.redirect_stdout(io.StringIO()):
        trainer.train()
    steps = [b - a for a, b in zip(clock.ticks, clock.ticks[1:], strict=False)]
    return trainer, sum(steps) / max(len(steps), 1), clock.ticks[-1] - clock.start


def start_ranklab(args, snapshot: Path, work: Path, budget: float):
    """Ranklab's trainer as the product runs it (`python -m training.ml.reward --config`), on the
    train split only: the bench scores both models itself."""
    import shutil

    data = work / "train-only"
    (data / "ranked_groups").mkdir(parents=True)
    shutil.copy(snapshot / "ranked_groups" / "train.jsonl", data / "ranked_groups" / "train.jsonl")
    spec = work / "ranklab-spec.json"
    spec.write_text(json.dumps(dict(
        model_name_or_path=args.model, data_path=str(data), output_dir=str(work / "ranklab"),
        freeze_layers=args.freeze, cache_frozen=True, max_seconds=budget, max_length=args.max_length,
        learning_rate=args.lr, lr_scheduler="cosine", batch_size=args.pairs_per_step, num_epochs=args.max_epochs,
        logging_steps=50, save_steps=0, resume=False, seed=args.seed, eval_batch_size=32, device="cpu")))
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false")
    return subprocess.Popen([sys.executable, "-m", "training.ml.reward", "--config", str(spec)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def score_with_shared_lower_pass(models: dict, tokenizer, groups, args) -> dict:
    """Held-out scores of each trained model. Their frozen lower layers are the same weights (checked),
    so those layers run once for all models and each model runs only its upper layers."""
    import torch

    from training.ml.data import encode_completion
    from training.ml.frozen import backbone_and_head, cached_scores, lower_outputs, pad_hidden, upper_view

    seqs = [encode_completion(tokenizer, g.prompt, c, max_length=args.max_length) for g in groups for c in g.completions]
    first = next(iter(models.values()))
    probe = f"{first.base_model_prefix}.layers.{args.freeze - 1}.mlp.down_proj.weight"
    for name, model in models.items():
        assert torch.equal(model.state_dict()[probe], first.state_dict()[probe]), f"{name}: lower layers differ"
        model.eval()
    with torch.no_grad():
        hidden = lower_outputs(backbone_and_head(first)[0], args.freeze, seqs, tokenizer.pad_token_id, batch_size=32)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        out = {}
        for name, model in models.items():
            backbone, head = backbone_and_head(model)
            upper, flat = upper_view(backbone, args.freeze), [0.0] * len(seqs)
            for start in range(0, len(order), 32):
                rows = order[start : start + 32]
                batch, mask = pad_hidden([hidden[i] for i in rows])
                for i, value in zip(rows, cached_scores(upper, head, batch, mask).tolist(), strict=True):
                    flat[i] = value
            out[name], k = [], 0
            for g in groups:
                out[name].append(flat[k : k + len(g.completions)])
                k += len(g.completions)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-seconds", type=float, default=600, help="wall-clock per trainer")
    parser.add_argument("--model", default="/tmp/smolconv/SmolLM2-135M-Instruct")
    parser.add_argument("--test-ratio", type=float, default=0.3, help="the export's test split, by prompt")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--freeze", type=int, default=26, help="frozen lower decoder layers (SmolLM2 has 30)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--pairs-per-step", type=int, default=8)
    parser.add_argument("--max-epochs", type=int, default=1000, help="a cap on the passes either trainer makes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per trainer (they run side by side)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from training.ml.common import quiet_transformers
    from training.ml.data import encode_completion, load_ranked_groups
    from training.ml.evaluate import evaluate_groups, pairwise_accuracy, wilson_interval

    quiet_transformers()
    started = time.time()
    budget = args.budget_seconds
    with tempfile.TemporaryDirectory(prefix="reward-hh-") as tmp:
        work = Path(tmp)
        snapshot = snapshot_via_product(work, args.test_ratio)
        train_groups, _ = load_ranked_groups(snapshot, "train")
        test_groups, _ = load_ranked_groups(snapshot, "test")
        overlap = {g.prompt_id for g in train_groups} & {g.prompt_id for g in test_groups}
        assert not overlap, "the export's split by prompt leaked"
        floor = shorter_wins_floor(test_groups)
        steps_per_epoch = -(-len(train_groups) // args.pairs_per_step)
        print(f"reward_hh: {len(train_groups)} train / {len(test_groups)} test comparisons (split by prompt), "
              f"SmolLM2-135M with {args.freeze}/30 layers frozen, max_length {args.max_length} (keeping the end), "
              f"lr {args.lr} cosine over the steps that fit, {args.pairs_per_step} pairs per step "
              f"({steps_per_epoch} per epoch), budget {budget:g} s each, the two trainers side by side with "
              f"{args.threads} torch thread(s) each; floor (shorter answer wins) {floor:.3f}", flush=True)
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        rows = []
        for g in train_groups:
            ids = [encode_completion(tokenizer, g.prompt, c, max_length=args.max_length) for c in g.completions]
            rows.append({"chosen_ids": ids[g.tiers[0][0]], "rejected_ids": ids[g.tiers[1][0]]})

        torch.set_num_threads(args.threads)
        _, per_step, _ = trl_run(args, tokenizer, rows, work / "probe", max_steps=4, budget_s=None)
        fit = max(1, min(int(budget / per_step), args.max_epochs * steps_per_epoch))
        print(f"  trl probe: {per_step:.2f} s per step alone, {fit} steps planned", flush=True)
        ranklab = start_ranklab(args, snapshot, work, budget)
        events: list[dict] = []  # read as they come, so that a full pipe never stalls the trainer
        reader = threading.Thread(target=lambda: events.extend(
            json.loads(line) for line in ranklab.stdout if line.startswith("{")))
        reader.start()
        trainer, _, took = trl_run(args, tokenizer, rows, work, max_steps=fit, budget_s=budget)
        trl_steps = trainer.state.global_step
        print(f"  trl:     {trl_steps} steps ({trl_steps / steps_per_epoch:.2f} epochs, {fit} planned) in {took:.0f} s",
              flush=True)
        reader.join()
        if ranklab.wait() != 0 or events[-1].get("event") != "done":
            raise SystemExit(f"the Ranklab trainer failed: {events[-1:]}")
        ours = events[-1]["metrics"]
        print(f"  ranklab: {ours['steps']} steps ({ours['epochs']:.2f} epochs) in {ours['budget_seconds']:.0f} s "
              f"(the frozen-layer pass included)", flush=True)

        torch.set_num_threads(2)
        ranklab_model = AutoModelForSequenceClassification.from_pretrained(events[-1]["model_dir"], dtype=torch.float32)
        scores = score_with_shared_lower_pass({"ranklab": ranklab_model, "trl": trainer.model}, tokenizer, test_groups, args)
        ours_acc, n = pairwise_accuracy(test_groups, scores["ranklab"])
        trl_acc, _ = pairwise_accuracy(test_groups, scores["trl"])
        extra = evaluate_groups(test_groups, scores["ranklab"])

    lo, hi = wilson_interval(ours_acc * n, n)
    tlo, thi = wilson_interval(trl_acc * n, n)
    print(f"  held-out accuracy: ranklab {ours_acc:.3f} [{lo:.3f}, {hi:.3f}] (Kendall τ {extra['kendall_tau'] or float('nan'):.3f}), "
          f"trl {trl_acc:.3f} [{tlo:.3f}, {thi:.3f}], floor {floor:.3f}; total {time.time() - started:.0f} s")
    print(f"reward_hh budget_s={budget:g} test_pairs={n} ranklab_acc={ours_acc:.3f} trl_acc={trl_acc:.3f} "
          f"floor={floor:.3f} lead_pt={100 * (ours_acc - trl_acc):+.1f} ranklab_epochs={ours['epochs']:.2f} "
          f"trl_epochs={trl_steps / steps_per_epoch:.2f}")


if __name__ == "__main__":
    main()
