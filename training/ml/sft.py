"""Supervised fine-tuning on demonstrations (InstructGPT step 1) through TRL's SFTTrainer.

Conversations are rendered with the model's chat template and the loss is taken on the
assistant's tokens only (every assistant turn of a dialogue demonstration, including its
end-of-turn token, so the model learns to stop). TRL needs `{% generation %}` markers for
that; ChatML templates without them (SmolLM2's) are marked here, rendering byte-identically.

    python -m training.ml.sft --config spec.json
    # spec.json: {"model_name_or_path": "/models/SmolLM2-135M-Instruct", "data_path": "var/exports/p1/v3",
    #             "output_dir": "var/runs/sft-3", "num_epochs": 2}

Reads `sft_messages/<split>` (or `sft_prompt_completion/<split>`) rows: {"messages": [...]} or {"prompt", "completion"}.
Progress goes to stdout as JSON lines (see training/ml/common.py); checkpoints are the Trainer's
(optimizer, scheduler, RNG) in <output_dir>/checkpoints/checkpoint-N plus our meta.json; the final
model (LoRA merged) is renamed into <output_dir>/model when complete.
Several processes or GPUs: `accelerate launch --multi_gpu --num_processes N -m training.ml.sft --config spec.json`
(TRL's trainer shards the batches and averages the gradients; process 0 reports and saves).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from training.ml import common
from training.ml.data import load_demonstrations

# SmolLM/SmolLM2's per-message ChatML expression, and the same with the assistant's content and
# <|im_end|> inside generation markers (the newline after it belongs to the next turn).
CHATML_TURN = "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
CHATML_TURN_MARKED = (
    "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' }}{% generation %}"
    "{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}" + CHATML_TURN + "{% endif %}"
)


@dataclass
class SFTJobConfig:
    # --- model
    model_name_or_path: str = field(metadata={"help": "Causal LM directory (the base policy)."})
    tokenizer_name_or_path: str | None = field(default=None, metadata={"help": "Defaults to the model's."})
    lora_r: int = field(default=0, metadata={"help": "LoRA rank via peft; 0: full fine-tuning."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    # --- data
    data_path: str = field(default="", metadata={"help": "Export snapshot directory or an SFT JSONL file."})
    eval_path: str | None = field(default=None, metadata={"help": "Held-out demonstrations; default: the snapshot's test split."})
    snapshot_sha256: str | None = field(default=None, metadata={"help": "Export hash; default: from the manifest."})
    max_length: int = field(default=1024, metadata={"help": "Tokens per conversation (longer ones keep their start)."})
    # --- training (InstructGPT's SFT: cosine decay, several epochs, picked on validation)
    output_dir: str = field(default="", metadata={"help": "Checkpoints and the final model go here."})
    num_epochs: float = field(default=2, metadata={"help": "Passes over the demonstrations."})
    max_steps: int | None = field(default=None, metadata={"help": "Stop after this many optimiser steps."})
    batch_size: int = field(default=8, metadata={"help": "Conversations per device per step."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Micro-batches per step."})
    learning_rate: float = field(default=2e-5, metadata={"help": "AdamW learning rate."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    lr_scheduler: str = field(default="cosine", metadata={"help": "transformers scheduler name."})
    warmup_ratio: float = field(default=0.0, metadata={"help": "Fraction of steps of linear warm-up."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Trade compute for memory on long inputs."})
    seed: int = field(default=42, metadata={"help": "Shuffling and LoRA init."})
    logging_steps: int = field(default=10, metadata={"help": "Emit a log line every N steps."})
    eval_steps: int | None = field(default=None, metadata={"help": "Evaluate every N steps (always at the end)."})
    save_steps: int = field(default=100, metadata={"help": "Checkpoint every N steps; 0: none."})
    save_total_limit: int = field(default=2, metadata={"help": "Checkpoints kept."})
    resume: bool = field(default=True, metadata={"help": "Continue from the newest checkpoint in output_dir."})
    mixed_precision: str = field(default="no", metadata={"help": "no / fp16 / bf16."})
    device: str = field(default="auto", metadata={"help": "auto / cpu / cuda."})

    def validate(self) -> None:
        if not self.data_path:
            raise common.ConfigError("SFTJobConfig: data_path is required")
        if not self.output_dir:
            raise common.ConfigError("SFTJobConfig: output_dir is required")
        if self.batch_size < 1 or self.max_length < 8 or self.num_epochs <= 0:
            raise common.ConfigError("SFTJobConfig: batch_size ≥ 1, max_length ≥ 8 and num_epochs > 0 are required")


def mark_assistant_turns(tokenizer) -> str:
    """Give a ChatML template generation markers; returns the original to restore before saving."""
    from trl.chat_template_utils import has_generation_markers

    original = tokenizer.chat_template
    if not original:
        raise common.ConfigError("the tokenizer has no chat template: SFT renders conversations with one")
    if not has_generation_markers(original) and CHATML_TURN in original:
        tokenizer.chat_template = original.replace(CHATML_TURN, CHATML_TURN_MARKED)
    return original


def assistant_mask(tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    """(input_ids, 1 where the loss is taken) as the trainer will see them: for tests and docs."""
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    return out["input_ids"], out["assistant_masks"]


def progress_callback(config: SFTJobConfig, snapshot: str, history: dict):
    from transformers import TrainerCallback

    class JsonLines(TrainerCallback):
        """Trainer events → our JSON lines; each checkpoint gets meta.json once it is complete."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            progress = state.global_step / state.max_steps if state.max_steps else 0.0
            if "loss" in logs:
                history["loss"].append([state.global_step, logs["loss"]])
                common.emit({"event": "log", "step": state.global_step, "progress": progress, "epoch": logs.get("epoch"),
                             "loss": logs["loss"], "token_accuracy": logs.get("mean_token_accuracy"),
                             "learning_rate": logs.get("learning_rate")})
            if "eval_loss" in logs:
                history["eval_loss"].append([state.global_step, logs["eval_loss"]])
                common.emit({"event": "eval", "step": state.global_step, "progress": progress,
                             "eval_loss": logs["eval_loss"], "eval_token_accuracy": logs.get("eval_mean_token_accuracy")})

        def on_save(self, args, state, control, **kwargs):
            if not state.is_world_process_zero:
                return
            path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if path.is_dir():
                common.write_meta(path, config=config, snapshot=snapshot, step=state.global_step)
                common.emit({"event": "checkpoint", "step": state.global_step, "path": str(path)})

    return JsonLines()


def train(config: SFTJobConfig) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import SFTConfig, SFTTrainer

    started = time.time()
    common.quiet_transformers()
    out = Path(config.output_dir)
    rows, train_file = load_demonstrations(config.data_path, "train")
    eval_rows, eval_file = load_demonstrations(config.eval_path or config.data_path, "test", required=bool(config.eval_path))
    if not rows:
        raise common.ConfigError(f"{train_file}: no demonstrations to learn from")
    snapshot = config.snapshot_sha256 or common.snapshot_sha256(config.data_path, [p for p in (train_file, eval_file) if p])
    tokenizer = AutoTokenizer.from_pretrained(config.tokenizer_name_or_path or config.model_name_or_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    inference_template = mark_assistant_turns(tokenizer)
    model = AutoModelForCausalLM.from_pretrained(config.model_name_or_path, dtype=torch.float32)
    peft_config = None
    if config.lora_r:
        from peft import LoraConfig

        peft_config = LoraConfig(task_type="CAUSAL_LM", r=config.lora_r, lora_alpha=config.lora_alpha,
                                 lora_dropout=config.lora_dropout, target_modules="all-linear")
    ckpt_root = out / "checkpoints"
    use_cpu = common.pick_device(config.device) == "cpu"
    args = SFTConfig(
        output_dir=str(ckpt_root), num_train_epochs=config.num_epochs, max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps, learning_rate=config.learning_rate,
        weight_decay=config.weight_decay, lr_scheduler_type=config.lr_scheduler, warmup_steps=config.warmup_ratio,
        max_grad_norm=config.max_grad_norm, gradient_checkpointing=config.gradient_checkpointing, seed=config.seed,
        bf16=config.mixed_precision == "bf16", fp16=config.mixed_precision == "fp16", use_cpu=use_cpu,
        logging_steps=config.logging_steps, save_strategy="steps" if config.save_steps else "no",
        save_steps=config.save_steps or 500, save_total_limit=config.save_total_limit,
        eval_strategy="steps" if config.eval_steps and eval_rows else "no", eval_steps=config.eval_steps,
        max_length=config.max_length, assistant_only_loss=True, packing=False, report_to="none",
        disable_tqdm=True, dataloader_num_workers=0,
    )
    history: dict = {"loss": [], "eval_loss": []}
    trainer = SFTTrainer(
        model=model, args=args, processing_class=tokenizer, peft_config=peft_config,
        train_dataset=Dataset.from_list([{"messages": m} for m in rows]),
        eval_dataset=Dataset.from_list([{"messages": m} for m in eval_rows]) if eval_rows else None,
        callbacks=[progress_callback(config, snapshot, history)],
    )
    for noisy in (PrinterCallback, ProgressCallback):  # they print dicts to stdout, which carries only JSON lines
        trainer.remove_callback(noisy)
    resume_from = None
    if config.resume:
        found = common.latest_checkpoint(out, snapshot, prefix="checkpoint-")
        resume_from = str(found) if found else None
    emit = common.emit if trainer.is_world_process_zero() else (lambda event: None)  # one process speaks for all
    emit({"event": "start", "total_steps": trainer.args.max_steps if trainer.args.max_steps > 0 else None,
                 "train_conversations": len(rows), "eval_conversations": len(eval_rows), "snapshot_sha256": snapshot,
                 "resumed_from": resume_from})
    result = trainer.train(resume_from_checkpoint=resume_from)
    metrics = {"steps": trainer.state.global_step, "train_loss": result.training_loss,
               "train_conversations": len(rows), "train_seconds": time.time() - started, "history": history}
    if eval_rows:
        evaluated = trainer.evaluate()
        metrics["eval_loss"] = evaluated["eval_loss"]
        metrics["eval_perplexity"] = math.exp(min(evaluated["eval_loss"], 50))
        metrics["eval_token_accuracy"] = evaluated.get("eval_mean_token_accuracy")
    model_dir = out / "model"
    if trainer.is_world_process_zero():
        final = trainer.model.merge_and_unload() if config.lora_r else trainer.model
        tokenizer.chat_template = inference_template
        tmp = common.atomic_dir(model_dir)
        final.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "ranklab.json").write_text(json.dumps(
            {"config": common.config_to_dict(config), "snapshot_sha256": snapshot, "step": metrics["steps"],
             "metrics": metrics, "kind": "policy"}, indent=1, default=str))
        common.commit_dir(tmp, model_dir)
    emit({"event": "done", "progress": 1.0, "model_dir": str(model_dir), "metrics": metrics})
    return metrics


def main(argv: list[str] | None = None) -> int:
    return common.cli_main(SFTJobConfig, train, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
