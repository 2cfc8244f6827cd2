"""Reward model training the InstructGPT way (Ouyang et al. 2022, eq. 1).

Each prompt's K completions are forwarded once; the loss averages -log σ(r_better − r_worse)
over all of its untied ordered pairs, one prompt being one batch element. A pair-expanded
trainer (TRL RewardTrainer) forwards 2·C(K,2) sequences for the same comparisons: 12 instead of
4 at K=4, 72 instead of 9 at K=9. On top of that the tokens the K sequences share (system
prompt + prompt) go through the model once, their keys and values reused by the K completions
(share_prompt). With the lower layers frozen, their output is computed once per sequence and
the steps run the upper layers alone (cache_frozen, training/ml/frozen.py); max_seconds sizes the
run to a wall-clock budget. bench/reward_bench.py and bench/reward_hh.py measure them.

    python -m training.ml.reward --config spec.json
    # spec.json: {"model_name_or_path": "/models/SmolLM2-135M-Instruct", "data_path": "var/exports/p1/v3",
    #             "output_dir": "var/runs/rm-7", "freeze_layers": 24, "max_length": 512}

The backbone is any causal LM directory; it is loaded as AutoModelForSequenceClassification
(num_labels=1) and saved that way, with pad_token_id set, so TRL and others can load it.
Several processes or GPUs: `accelerate launch -m training.ml.reward --config spec.json` (each
process takes its share of each step's prompts; gradients are averaged by accelerate; the logged
loss and accuracy are those of the whole step; see docs/operations.md).
"""
from __future__ import annotations

import contextlib
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from training.ml import common
from training.ml.common import freeze_lower_layers, trainable_state
from training.ml.data import RankedGroup, encode_completion, load_ranked_groups
from training.ml.frozen import LowerCache, backbone_and_head, cached_scores, pad_hidden, pad_ids


@dataclass
class RewardConfig:
    # --- model
    model_name_or_path: str = field(metadata={"help": "Causal LM (or reward model) directory."})
    tokenizer_name_or_path: str | None = field(default=None, metadata={"help": "Defaults to the model's."})
    freeze_layers: int = field(default=0, metadata={"help": "Freeze the embeddings and the lower N decoder layers."})
    lora_r: int = field(default=0, metadata={"help": "LoRA rank via peft; 0 trains the weights themselves."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling."})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout."})
    # --- data
    data_path: str = field(default="", metadata={"help": "Export snapshot directory or a ranked_groups file."})
    eval_path: str | None = field(default=None, metadata={"help": "Test ranked_groups; default: the snapshot's test split."})
    snapshot_sha256: str | None = field(default=None, metadata={"help": "Export hash; default: from the manifest."})
    max_length: int = field(default=512, metadata={"help": "Tokens per sequence; longer ones keep their end."})
    use_chat_template: bool = field(default=True, metadata={"help": "Format prompt + completion with the chat template."})
    share_prompt: bool = field(default=True, metadata={"help": "Forward a prompt's shared tokens once for its K completions."})
    cache_frozen: bool = field(default=False, metadata={"help": "Compute the frozen lower layers once per sequence and train the upper ones on their output (needs freeze_layers; replaces share_prompt)."})
    # --- training (defaults from InstructGPT's RM: one epoch, cosine schedule, lr 9e-6)
    output_dir: str = field(default="", metadata={"help": "Checkpoints and the final model go here."})
    num_epochs: int = field(default=1, metadata={"help": "Passes over the prompts (InstructGPT: 1, more overfits)."})
    max_steps: int | None = field(default=None, metadata={"help": "Stop after this many optimiser steps."})
    max_seconds: float = field(default=0.0, metadata={"help": "Wall-clock budget of the training (frozen-layer pass included), the schedule sized to the steps that fit; 0: none."})
    batch_size: int = field(default=8, metadata={"help": "Prompts (not pairs) per optimiser step."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Micro-batches per step."})
    learning_rate: float = field(default=9e-6, metadata={"help": "AdamW learning rate."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    fused_adamw: bool = field(default=True, metadata={"help": "torch's fused AdamW kernel (CPU and CUDA): same maths, fewer passes."})
    lr_scheduler: str = field(default="cosine", metadata={"help": "transformers scheduler name."})
    warmup_ratio: float = field(default=0.0, metadata={"help": "Fraction of steps of linear warm-up."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping; 0 disables."})
    margin_scale: float = field(default=0.0, metadata={"help": "Margin = scale × preference strength (Llama 2); 0: off."})
    center_rewards_coefficient: float | None = field(default=None, metadata={"help": "TRL's reward centering, e.g. 0.01."})
    seed: int = field(default=42, metadata={"help": "Seeds the head init, the shuffling and dropout."})
    logging_steps: int = field(default=10, metadata={"help": "Emit a log line every N steps."})
    eval_steps: int | None = field(default=None, metadata={"help": "Evaluate every N steps (always at the end)."})
    save_steps: int = field(default=100, metadata={"help": "Checkpoint every N steps; 0: only at the end."})
    save_total_limit: int = field(default=2, metadata={"help": "Checkpoints kept."})
    resume: bool = field(default=True, metadata={"help": "Continue from the newest checkpoint in output_dir."})
    mixed_precision: str = field(default="no", metadata={"help": "accelerate: no / fp16 / bf16."})
    device: str = field(default="auto", metadata={"help": "auto / cpu / cuda."})
    eval_batch_size: int = field(default=16, metadata={"help": "Sequences per forward when scoring."})

    def validate(self) -> None:
        if not self.data_path:
            raise common.ConfigError("RewardConfig: data_path is required")
        if not self.output_dir:
            raise common.ConfigError("RewardConfig: output_dir is required")
        for name in ("batch_size", "max_length", "num_epochs", "gradient_accumulation_steps"):
            if getattr(self, name) < 1:
                raise common.ConfigError(f"RewardConfig: {name} must be at least 1")
        if self.freeze_layers < 0 or self.lora_r < 0 or self.max_seconds < 0:
            raise common.ConfigError("RewardConfig: freeze_layers, lora_r and max_seconds cannot be negative")
        if self.cache_frozen and not self.freeze_layers:
            raise common.ConfigError("RewardConfig: cache_frozen needs freeze_layers (the layers to compute once)")


# ---------------------------------------------------------------- the loss
def kwise_reward_loss(rewards, levels, margins=None, center_coef: float | None = None):
    """InstructGPT's loss for a batch of prompts.

    rewards [B, K]: one score per completion (padding anywhere); levels [B, K] long: the
    completion's tier (0 = best, ties share a level), -1 for padding; margins [B] or None.
    Pair (i, j) counts when levels[i] < levels[j]; each prompt averages its own pairs, then the
    prompts are averaged (prompts without a pair carry no weight). Returns (loss, stats)."""
    valid = levels >= 0
    better = (levels[:, :, None] < levels[:, None, :]) & valid[:, :, None] & valid[:, None, :]  # [B, K, K]
    diff = rewards[:, :, None] - rewards[:, None, :]  # [B, K, K]: r_i − r_j
    if margins is not None:
        diff = diff - margins[:, None, None]
    pair_loss = torch.where(better, -F.logsigmoid(diff), torch.zeros_like(diff))
    n_pairs = better.sum(dim=(1, 2))  # [B]
    has_pairs = n_pairs > 0
    per_prompt = pair_loss.sum(dim=(1, 2)) / n_pairs.clamp(min=1)
    loss = per_prompt[has_pairs].mean()
    if center_coef:
        # TRL's centering term, mean((r_chosen + r_rejected)²), taken over the same pairs
        sums = torch.where(better, (rewards[:, :, None] + rewards[:, None, :]) ** 2, torch.zeros_like(diff))
        loss = loss + center_coef * (sums.sum(dim=(1, 2)) / n_pairs.clamp(min=1))[has_pairs].mean()
    with torch.no_grad():
        raw = rewards[:, :, None] - rewards[:, None, :]
        correct = ((raw > 0) & better).sum()
        stats = {"pairs": int(n_pairs.sum()), "correct": int(correct)}
    return loss, stats


# ---------------------------------------------------------------- data → tensors
def encode_groups(groups: list[RankedGroup], tokenizer, config: RewardConfig, share_prompt: bool = False) -> tuple[list[dict], int]:
    """Keep only ranked completions (an unranked one needs no forward pass); returns the encoded
    groups and how many were skipped for having no untied pair. With share_prompt, the tokens
    all of a group's sequences begin with (system + prompt) are split off to be forwarded once."""
    encoded, skipped = [], 0
    for group in groups:
        levels = group.levels()
        keep = [i for i, lv in enumerate(levels) if lv >= 0]
        if len({levels[i] for i in keep}) < 2:
            skipped += 1
            continue
        ids = [encode_completion(tokenizer, group.prompt, group.completions[i], max_length=config.max_length,
                                 use_chat_template=config.use_chat_template) for i in keep]
        shared = 0
        while share_prompt and all(len(x) > shared + 1 for x in ids) and len({x[shared] for x in ids}) == 1:
            shared += 1  # each completion keeps at least its last token, where the score is read
        encoded.append({"prompt": ids[0][:shared], "ids": [x[shared:] for x in ids],
                        "levels": [levels[i] for i in keep], "margin": group.margin(config.margin_scale)})
    return encoded, skipped


def collate(batch: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Flatten the batch's completions into one padded [N, L] tensor; `slot` maps each row
    back to (prompt b, completion k) of the [B, K] reward matrix. Shared prompts, when every
    group has one, go in a separate [B, P] tensor; otherwise rows hold prompt + completion.
    Groups with cached lower-layer outputs ("hidden") give [N, L, H] hidden states instead."""
    shared = all(g["prompt"] for g in batch)
    seqs = [ids if shared else g["prompt"] + ids for g in batch for ids in g["ids"]]
    input_ids, attention = pad_ids(seqs, pad_id)
    k_max = max(len(g["ids"]) for g in batch)
    levels = torch.full((len(batch), k_max), -1, dtype=torch.long)
    slot_b, slot_k = [], []
    for b, g in enumerate(batch):
        levels[b, : len(g["levels"])] = torch.tensor(g["levels"])
        slot_b += [b] * len(g["ids"])
        slot_k += list(range(len(g["ids"])))
    out = {"input_ids": input_ids, "attention_mask": attention, "levels": levels,
           "margins": torch.tensor([g["margin"] for g in batch], dtype=torch.float),
           "slot_b": torch.tensor(slot_b), "slot_k": torch.tensor(slot_k)}
    if shared:
        out["prompt_ids"], out["prompt_mask"] = pad_ids([g["prompt"] for g in batch], pad_id)
    if all("hidden" in g for g in batch):
        out["hidden"], _ = pad_hidden([h for g in batch for h in g["hidden"]])
    return out


class RewardScorer(torch.nn.Module):
    """A batch → its rewards [B, K], by whichever pass the batch calls for. One module, so that
    DDP (several processes) sees the shared-prompt and cached passes as its forward and
    averages their gradients; `upper` (the cached pass's view) shares the model's layers."""

    def __init__(self, model, upper=None):
        super().__init__()
        self.model = model
        self._upper = (upper,)  # not a registered child: its parameters are the model's

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return batch_rewards(self.model, batch, self._upper[0])


def batch_rewards(model, batch: dict[str, torch.Tensor], upper=None) -> torch.Tensor:
    """Forward every completion once → rewards [B, K] (zeros where padded)."""
    if "hidden" in batch:
        scores = cached_scores(upper, backbone_and_head(model)[1], batch["hidden"], batch["attention_mask"])
    elif "prompt_ids" in batch:
        scores = shared_prompt_scores(model, batch)
    else:
        scores = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits[:, 0]
    rewards = scores.new_zeros(batch["levels"].shape)
    return rewards.index_put((batch["slot_b"], batch["slot_k"]), scores)


def shared_prompt_scores(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The same scores as a full forward pass (tests check it), but each prompt goes through the
    model once: its keys and values are cached, repeated for its completions, and the
    completions are forwarded after them at the right positions. Gradients flow through the
    cache into the prompt's pass. Right padding everywhere, so no attention row is empty."""
    from transformers import DynamicCache

    backbone, head = backbone_and_head(model)
    cache = DynamicCache(config=backbone.config)
    backbone(input_ids=batch["prompt_ids"], attention_mask=batch["prompt_mask"], cache=cache, use_cache=True)
    slot = batch["slot_b"]
    cache.reorder_cache(slot)  # [B, …] → [N, …]
    width = batch["input_ids"].shape[1]
    mask = torch.cat([batch["prompt_mask"][slot], batch["attention_mask"]], dim=1)  # [N, P + L]
    positions = batch["prompt_mask"].sum(1)[slot][:, None] + torch.arange(width, device=mask.device)[None]
    hidden = backbone(input_ids=batch["input_ids"], attention_mask=mask, position_ids=positions, cache=cache,
                      use_cache=True).last_hidden_state  # [N, L, H]
    last = batch["attention_mask"].sum(1) - 1
    return head(hidden[torch.arange(hidden.shape[0], device=hidden.device), last])[:, 0]


# ---------------------------------------------------------------- model
def load_backbone(config: RewardConfig):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(config.tokenizer_name_or_path or config.model_name_or_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    torch.manual_seed(config.seed)  # the new scalar head is initialised here
    # (transformers' "score.weight newly initialized" notice is expected; quiet_transformers hides it)
    model = AutoModelForSequenceClassification.from_pretrained(config.model_name_or_path, num_labels=1,
                                                               dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    if config.freeze_layers:
        freeze_lower_layers(model, config.freeze_layers)
    if config.lora_r:
        from peft import LoraConfig, get_peft_model

        n_layers = model.config.num_hidden_layers
        # peft takes layers_to_transform only with named modules: the decoder layers' linear ones ("all-linear")
        linear = sorted({name.rsplit(".", 1)[-1] for name, module in common.decoder_layers(model).named_modules()
                         if isinstance(module, torch.nn.Linear)})
        lora = LoraConfig(
            task_type="SEQ_CLS", r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
            target_modules=linear if config.freeze_layers else "all-linear",
            layers_to_transform=list(range(config.freeze_layers, n_layers)) if config.freeze_layers else None,
        )
        model = get_peft_model(model, lora)
    return model, tokenizer


def save_reward_model(model, tokenizer, target: Path, meta: dict) -> Path:
    """Merged, plain AutoModelForSequenceClassification weights, written atomically."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    tmp = common.atomic_dir(target)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / "ranklab.json").write_text(json.dumps(meta, indent=1, default=str))
    return common.commit_dir(tmp, target)


# ---------------------------------------------------------------- training loop
def epoch_batches(n_items: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    order = list(range(n_items))
    random.Random(seed * 1000 + epoch).shuffle(order)
    return [order[i : i + batch_size] for i in range(0, n_items, batch_size)]


def train(config: RewardConfig) -> dict:
    from accelerate import Accelerator
    from transformers import get_scheduler

    from training.ml.evaluate import evaluate_groups, score_groups

    started = time.time()
    common.quiet_transformers()
    accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=common.pick_device(config.device) == "cpu")
    emit = common.emit if accelerator.is_main_process else (lambda event: None)  # one process speaks for all
    out = Path(config.output_dir)
    train_groups, train_file = load_ranked_groups(config.data_path, "train")
    eval_groups, eval_file = load_ranked_groups(config.eval_path or config.data_path, "test", required=bool(config.eval_path))
    snapshot = config.snapshot_sha256 or common.snapshot_sha256(config.data_path, [p for p in (train_file, eval_file) if p])
    model, tokenizer = load_backbone(config)
    share = config.share_prompt and not config.cache_frozen and hasattr(model, "score")
    encoded, skipped = encode_groups(train_groups, tokenizer, config, share_prompt=share)
    if not encoded:
        raise common.ConfigError(f"{train_file}: no ranking with two different tiers to learn from")
    pad_id = tokenizer.pad_token_id
    budget = common.Budget(accelerator, config.max_seconds)  # the budget's clock starts before the frozen-layer pass
    model.to(accelerator.device)
    cache = (LowerCache(model, config.freeze_layers, pad_id, accelerator.device, batch_size=config.eval_batch_size)
             if config.cache_frozen else None)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = base_optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay,
                                                   fused=config.fused_adamw or None)
    micro = config.batch_size  # prompts per micro-batch per process
    world = accelerator.num_processes
    per_epoch = math.ceil(len(encoded) / (micro * world * config.gradient_accumulation_steps))
    total = cap = min(config.max_steps or per_epoch * config.num_epochs, per_epoch * config.num_epochs)

    def make_scheduler(steps: int, done: int = 0):
        made = get_scheduler(config.lr_scheduler, base_optimizer, num_warmup_steps=int(config.warmup_ratio * steps),
                             num_training_steps=steps)
        for _ in range(done):
            made.step()
        return made

    scheduler = make_scheduler(total)
    step, history = 0, {"loss": [], "accuracy": [], "eval_accuracy": []}
    checkpoint = common.latest_checkpoint(out, snapshot) if config.resume else None
    if checkpoint is not None:
        state = torch.load(checkpoint / "state.pt", map_location="cpu", weights_only=False)
        missing = set(trainable_state(model)) - set(state["model"])
        if missing:
            raise common.ConfigError(f"{checkpoint}: checkpoint lacks {sorted(missing)[:3]}…: different model setup?")
        model.load_state_dict(state["model"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, history = state["step"], state["history"]
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed from {checkpoint} at step {step}", file=sys.stderr)
    scorer, optimizer = accelerator.prepare(RewardScorer(model, cache.upper if cache else None), optimizer)
    model.train()
    emit({"event": "start", "total_steps": total, "train_prompts": len(encoded), "skipped_prompts": skipped,
          "eval_prompts": len(eval_groups), "snapshot_sha256": snapshot, "resumed_from_step": step,
          "processes": world, "cached_frozen_layers": config.freeze_layers if cache else 0})

    def save_checkpoint() -> None:
        if not accelerator.is_main_process:
            return
        target = out / "checkpoints" / f"{common.CHECKPOINT_PREFIX}{step:07d}"
        tmp = common.atomic_dir(target)
        torch.save({"model": trainable_state(model), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "step": step, "history": history,
                    "torch_rng": torch.get_rng_state()}, tmp / "state.pt")
        common.write_meta(tmp, config=config, snapshot=snapshot, step=step, epoch=step / per_epoch)
        common.commit_dir(tmp, target)
        common.prune_checkpoints(out, config.save_total_limit)
        emit({"event": "checkpoint", "step": step, "path": str(target)})

    def run_eval() -> dict:
        if not eval_groups or not accelerator.is_main_process:  # the others would only repeat it
            return {}
        scores = score_groups(model, tokenizer, eval_groups, max_length=config.max_length,
                              batch_size=config.eval_batch_size, use_chat_template=config.use_chat_template)
        model.train()
        return evaluate_groups(eval_groups, scores)

    counted = {"sequences": 0, "comparisons": 0, "prompt_passes": 0}  # forwarded / trained on by this process (this run)
    loop_seconds = loop_cpu_seconds = 0.0  # inside optimiser steps only: what bench/reward_bench.py compares
    window = torch.zeros(4, dtype=torch.float64)  # loss sum, micro-batches, pairs, correct pairs
    while step < total:
        epoch, in_epoch = divmod(step, per_epoch)
        batches = epoch_batches(len(encoded), micro, config.seed, epoch)
        per_step = world * config.gradient_accumulation_steps
        for offset in range(in_epoch * per_step, len(batches), per_step):
            chunk = batches[offset : offset + per_step]
            if world > 1 and len(chunk) < per_step:  # every process needs a batch, or DDP waits forever
                chunk = (chunk + batches)[:per_step]
            mine = chunk[accelerator.process_index :: world]
            tick, tick_cpu = time.perf_counter(), time.process_time()
            for n, indices in enumerate(mine):
                if cache:
                    cache.fill([encoded[i] for i in indices])
                batch = {k: v.to(accelerator.device) for k, v in collate([encoded[i] for i in indices], pad_id).items()}
                sync = accelerator.no_sync(scorer) if n < len(mine) - 1 else contextlib.nullcontext()
                with sync:
                    rewards = scorer(batch)
                    loss, stats = kwise_reward_loss(rewards.float(), batch["levels"], batch["margins"] if config.margin_scale else None,
                                                    config.center_rewards_coefficient)
                    accelerator.backward(loss / len(mine))
                counted["sequences"] += batch["input_ids"].shape[0]
                counted["prompt_passes"] += batch["prompt_ids"].shape[0] if "prompt_ids" in batch else 0
                counted["comparisons"] += stats["pairs"]
                window += torch.tensor([loss.item(), 1, stats["pairs"], stats["correct"]], dtype=torch.float64)
            if config.max_grad_norm:
                accelerator.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            took = time.perf_counter() - tick
            loop_seconds += took
            loop_cpu_seconds += time.process_time() - tick_cpu
            step += 1
            cut = budget.new_total(step=step, total=total, cap=cap, took=took)
            if cut is not None:
                total = cut
                scheduler = make_scheduler(total, step)
            if step % config.logging_steps == 0 or step == total:
                whole = accelerator.reduce(window.to(accelerator.device), "sum").cpu() if world > 1 else window
                entry = {"event": "log", "step": step, "progress": step / total, "epoch": step / per_epoch,
                         "loss": float(whole[0] / whole[1].clamp(min=1)),
                         "accuracy": float(whole[3] / whole[2].clamp(min=1)),
                         "learning_rate": scheduler.get_last_lr()[0], "elapsed_s": time.time() - started}
                history["loss"].append([step, entry["loss"]])
                history["accuracy"].append([step, entry["accuracy"]])
                emit(entry)
                window.zero_()
            if config.eval_steps and step % config.eval_steps == 0 and step < total:
                metrics = run_eval()
                if metrics:
                    history["eval_accuracy"].append([step, metrics["accuracy"]])
                    emit({"event": "eval", "step": step, "progress": step / total, **_flat(metrics)})
            if config.save_steps and step % config.save_steps == 0 and step < total:
                save_checkpoint()
            if step >= total:
                break
    save_checkpoint()
    metrics = run_eval()
    if metrics:
        history["eval_accuracy"].append([step, metrics["accuracy"]])
    final = {"steps": step, "epochs": step / per_epoch, "train_prompts": len(encoded), "skipped_prompts": skipped,
             "train_seconds": time.time() - started, "loop_seconds": loop_seconds,
             "loop_cpu_seconds": loop_cpu_seconds, "budget_seconds": time.perf_counter() - budget.clock,
             "sequences_forwarded": counted["sequences"], "comparisons_trained": counted["comparisons"],
             "shared_prompt_passes": counted["prompt_passes"], "history": history,
             **({f"eval_{k}": v for k, v in metrics.items()})}
    model_dir = out / "model"
    if accelerator.is_main_process:
        save_reward_model(model, tokenizer, model_dir,
                          {"config": common.config_to_dict(config), "snapshot_sha256": snapshot, "step": step,
                           "metrics": final, "kind": "reward"})
    emit({"event": "done", "progress": 1.0, "model_dir": str(model_dir), "metrics": final})
    return final


def _flat(metrics: dict) -> dict:
    return {f"eval_{k}": v for k, v in metrics.items() if isinstance(v, (int, float)) or v is None}


def main(argv: list[str] | None = None) -> int:
    return common.cli_main(RewardConfig, train, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
