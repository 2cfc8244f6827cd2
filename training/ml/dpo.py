"""Direct Preference Optimisation (Rafailov et al. 2023) on the comparisons of an export, with TRL's DPOTrainer.

    python -m training.ml.dpo --config spec.json     # spec: the DPOConfig fields as JSON

The reference is the SFT model we start from. Its log-probabilities of every chosen and rejected
answer are computed once before training (TRL `precompute_ref_log_probs`), so only one model sits
in memory. With freeze_layers, cache_frozen computes the frozen lower layers once per sequence in
that same reference pass, and the steps run the upper layers alone (training/ml/frozen.py
CausalLowerCache). Pairs come from the snapshot's preference_chat, ranked_groups (all C(K,2) untied pairs
of each ranking), preference or hh file. Stdout carries training/ml/common.py's JSON-lines events;
each "log" has loss, reward (the mean implicit reward margin β·log π/π_ref(chosen) − β·log
π/π_ref(rejected)), accuracy (how often that margin is positive) and kl (mean log π/π_ref of the
chosen answers, a sequence-level estimate of the drift from the SFT model).
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from training.ml import common
from training.ml import policy_data as pdata


@dataclass
class DPOConfig:
    # model
    model_name_or_path: str = field(metadata={"help": "SFT policy directory: the starting point and the reference."})
    lora_r: int = field(default=0, metadata={"help": "LoRA rank (0: no LoRA). The adapter is merged into the saved model."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha."})
    freeze_layers: int = field(default=0, metadata={"help": "Without LoRA: freeze the embeddings and the lowest N "
                               "decoder layers (CPU-friendly)."})
    cache_frozen: bool = field(default=False, metadata={"help": "Compute the frozen lower layers once per sequence "
                               "(in the reference pass) and train the upper ones on their output (needs "
                               "freeze_layers, no LoRA, no dropout)."})
    use_chat_template: bool = field(default=True, metadata={"help": "Format prompts and answers with the chat template."})
    # data
    data_path: str = field(default="", metadata={"help": "Export snapshot directory, or a preference / ranked_groups / "
                           "HH file."})
    split: str = field(default="train", metadata={"help": "Split of the snapshot to train on."})
    pairs_per_ranking: str = field(default="all", metadata={"help": "From each ranking: all (every untied pair) "
                                   "or best_worst (one pair, top tier against bottom tier: fewer, clearer pairs)."})
    max_pairs: int = field(default=0, metadata={"help": "Use at most this many pairs (0: all)."})
    snapshot_sha256: str | None = field(default=None, metadata={"help": "Export hash; default: from the manifest."})
    output_dir: str = field(default="", metadata={"help": "Checkpoints and the final model (<output_dir>/model)."})
    max_length: int = field(default=512, metadata={"help": "Longest prompt + answer in tokens."})
    # training (DPO paper: β 0.1, RMSprop lr 1e-6 with 150 warm-up steps, batch 64)
    beta: float = field(default=0.1, metadata={"help": "β: strength of the implicit KL constraint to the reference."})
    loss_type: str = field(default="sigmoid", metadata={"help": "TRL loss: sigmoid (DPO), ipo, hinge, robust, "
                           "apo_zero, …; several comma-separated are summed."})
    rpo_alpha: float = field(default=0.0, metadata={"help": "RPO (Pang et al. 2024): add alpha × the NLL of the chosen "
                             "answer to the DPO loss (0: plain DPO); keeps the policy writing like its chosen answers."})
    learning_rate: float = field(default=1e-6, metadata={"help": "Learning rate (LoRA usually wants ~1e-4)."})
    epochs: float = field(default=1.0, metadata={"help": "Passes over the pairs."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many optimiser steps (-1: use epochs)."})
    batch_size: int = field(default=8, metadata={"help": "Pairs per device step."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Device steps per optimiser step."})
    warmup_steps: int = field(default=0, metadata={"help": "Linear warm-up steps (the paper used 150)."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Trade compute for memory."})
    seed: int = field(default=0, metadata={"help": "Seed for data order and LoRA init."})
    save_steps: int = field(default=0, metadata={"help": "Checkpoint every N steps (0: never); a rerun with the "
                            "same output_dir and snapshot resumes from the newest."})
    resume: bool = field(default=True, metadata={"help": "Continue from the newest checkpoint in output_dir."})

    def validate(self) -> None:
        if self.beta <= 0:
            raise common.ConfigError("DPOConfig: beta must be positive")
        if self.batch_size < 1 or self.max_length < 8:
            raise common.ConfigError("DPOConfig: batch_size must be at least 1 and max_length at least 8")
        if self.cache_frozen and (self.lora_r or not self.freeze_layers):
            raise common.ConfigError("DPOConfig: cache_frozen needs freeze_layers (the layers to compute once) "
                                     "and no LoRA (lora_r=0)")


def load_model(config: DPOConfig):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(config.model_name_or_path, dtype=torch.float32)


def build_trainer(config: DPOConfig, *, model, tokenizer=None, pairs=None, callbacks=(), emit=common.emit):
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import DPOConfig as TRLDPOConfig
    from trl import DPOTrainer

    tokenizer = tokenizer or AutoTokenizer.from_pretrained(config.model_name_or_path)
    chat = config.use_chat_template and bool(getattr(tokenizer, "chat_template", None))
    rows = [pdata.as_trl_pair(p, chat) for p in pairs]
    peft_config = None
    if config.lora_r:
        from peft import LoraConfig

        peft_config = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, task_type="CAUSAL_LM",
                                 target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    else:
        pdata.freeze_lower_layers(model, config.freeze_layers)
    args = TRLDPOConfig(
        output_dir=str(pdata.trainer_output_dir(config.output_dir, "dpo")),
        beta=config.beta, **_losses(config), precompute_ref_log_probs=True,
        learning_rate=config.learning_rate, num_train_epochs=config.epochs, max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size, gradient_accumulation_steps=config.gradient_accumulation_steps,
        warmup_steps=config.warmup_steps, max_length=config.max_length,
        gradient_checkpointing=config.gradient_checkpointing, seed=config.seed, bf16=False, logging_steps=1,
        report_to=[], disable_tqdm=True, save_strategy="steps" if config.save_steps and config.output_dir else "no",
        save_steps=config.save_steps or 500, save_total_limit=1,
    )
    # TRL tokenises and runs the reference pass inside the constructor: one phase covers both.
    common.phase(f"encoding {len(rows)} pairs ({2 * len(rows)} sequences) and computing their reference "
                 "log-probabilities", emit)
    trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         peft_config=peft_config, callbacks=list(callbacks))
    pdata.quiet_hf_trainer(trainer)
    return trainer


def _losses(config: DPOConfig) -> dict:
    """TRL's loss_type list (and weights): RPO is DPO plus alpha × TRL's "sft" loss (NLL of the chosen answer)."""
    types = [t.strip() for t in config.loss_type.split(",") if t.strip()]
    if not config.rpo_alpha:
        return {"loss_type": types}
    return {"loss_type": [*types, "sft"], "loss_weights": [1.0] * len(types) + [config.rpo_alpha]}


def _record(logs: dict, beta: float) -> dict:
    return {"loss": logs["loss"], "reward": logs.get("rewards/margins"), "accuracy": logs.get("rewards/accuracies"),
            "kl": logs["rewards/chosen"] / beta if "rewards/chosen" in logs else None,
            "learning_rate": logs.get("learning_rate")}


def train(config: DPOConfig, *, model=None, tokenizer=None, pairs=None, emit: Callable[[dict], None] = common.emit,
          check_cancel: Callable[[], None] | None = None) -> dict:
    """Fine-tune a policy on comparisons with DPO; the model (LoRA merged) goes to <output_dir>/model."""
    config.validate()
    common.quiet_transformers()
    files = []
    if pairs is None:
        pairs, source = pdata.load_preference_pairs(config.data_path, config.split, config.max_pairs or None,
                                                    config.pairs_per_ranking)
        files.append(source)
    snapshot = config.snapshot_sha256 or (common.snapshot_sha256(config.data_path, files) if files else "")
    callback = pdata.hf_progress_callback(config, snapshot, lambda logs: _record(logs, config.beta), emit, check_cancel)
    common.phase("loading the model", emit)
    model = model if model is not None else load_model(config)
    # the reference pass (in the trainer's constructor) fills the cache; the patch is off before the model is returned
    with frozen_cache(model, config.freeze_layers) if config.cache_frozen else contextlib.nullcontext():
        trainer = build_trainer(config, model=model, tokenizer=tokenizer, pairs=pairs, callbacks=[callback],
                                emit=emit)
        return pdata.hf_train_and_save(trainer, config, snapshot=snapshot, callback=callback, emit=emit,
                                       method="dpo", counts={"pairs": len(pairs)})


def frozen_cache(model, n_frozen: int):
    from training.ml.frozen import CausalLowerCache

    return CausalLowerCache(model.get_decoder(), n_frozen)


def main(argv: list[str] | None = None) -> int:
    return common.cli_main(DPOConfig, train, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
