"""REINFORCE Leave-One-Out (Ahmadian et al. 2024) with TRL's RLOOTrainer and Ranklab's reward model.

    python -m training.ml.rloo --config spec.json     # spec: the RLOOConfig fields as JSON

The lighter alternative to PPO-ptx: no value head, no GAE. For each prompt the policy samples k
answers; the reward model scores them; each answer's baseline is the mean reward of the other k−1.
The reward model (AutoModelForSequenceClassification, num_labels=1) goes to TRL wrapped as a reward
function that encodes and scores exactly as the reward trainer and PPO do. Stdout carries
training/ml/common.py's JSON-lines events; each "log" has loss, reward, kl, entropy, clip_fraction.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from training.ml import common
from training.ml import policy_data as pdata
from training.ml.data import as_messages


@dataclass
class RLOOConfig:
    # model
    model_name_or_path: str = field(metadata={"help": "SFT policy directory: the start and the KL reference."})
    reward_model_path: str = field(default="", metadata={"help": "Reward model directory "
                                   "(AutoModelForSequenceClassification, num_labels=1)."})
    lora_r: int = field(default=0, metadata={"help": "LoRA rank (0: no LoRA). The adapter is merged into the saved model."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha."})
    freeze_layers: int = field(default=0, metadata={"help": "Without LoRA: freeze the embeddings and the lowest N "
                               "decoder layers (CPU-friendly)."})
    use_chat_template: bool = field(default=True, metadata={"help": "Format prompts (and prompt + answer for the "
                                    "reward model) with the chat template, as the reward trainer does."})
    # data
    data_path: str = field(default="", metadata={"help": "Export snapshot directory or a file of prompts (any format)."})
    prompt_split: str = field(default="train", metadata={"help": "Split whose prompts the policy answers."})
    max_prompts: int = field(default=0, metadata={"help": "Use at most this many prompts (0: all)."})
    snapshot_sha256: str | None = field(default=None, metadata={"help": "Export hash; default: from the manifest."})
    output_dir: str = field(default="", metadata={"help": "Checkpoints and the final model (<output_dir>/model)."})
    max_completion_length: int = field(default=64, metadata={"help": "Longest sampled answer, in tokens."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature."})
    rm_max_length: int = field(default=512, metadata={"help": "Tokens of prompt + answer the reward model reads."})
    # training (the RLOO paper's k = 2…4; β and learning rate: TRL's defaults)
    num_generations: int = field(default=4, metadata={"help": "k: answers sampled per prompt (at least 2)."})
    batch_size: int = field(default=8, metadata={"help": "Answers per device step (a multiple of num_generations)."})
    beta: float = field(default=0.05, metadata={"help": "β: KL penalty against the SFT reference."})
    learning_rate: float = field(default=1e-6, metadata={"help": "Learning rate (LoRA usually wants ~1e-4)."})
    max_steps: int = field(default=100, metadata={"help": "Optimiser steps."})
    seed: int = field(default=0, metadata={"help": "Seed for prompt order, sampling and LoRA init."})
    save_steps: int = field(default=0, metadata={"help": "Checkpoint every N steps (0: never); a rerun with the "
                            "same output_dir and snapshot resumes from the newest."})
    resume: bool = field(default=True, metadata={"help": "Continue from the newest checkpoint in output_dir."})

    def validate(self) -> None:
        if self.num_generations < 2:
            raise common.ConfigError("RLOOConfig: num_generations must be at least 2 (each answer's baseline is "
                                     "the mean reward of the others)")
        if self.batch_size % self.num_generations:
            raise common.ConfigError(f"RLOOConfig: batch_size ({self.batch_size}) must be a multiple of "
                                     f"num_generations ({self.num_generations})")


def reward_model_func(path: str, max_length: int, use_chat_template: bool):
    """The reward model as a TRL reward function, scoring exactly as PPO and the reward trainer do."""
    from training.ml.ppo import RewardModelScorer

    scorer = RewardModelScorer(path, max_length, use_chat_template)

    def reward_model(prompts, completions, **kwargs):
        answers = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
        return scorer(prompts, answers)

    return reward_model


def build_trainer(config: RLOOConfig, *, prompts, reward_funcs=None, callbacks=(), emit=common.emit):
    """reward_funcs: a TRL reward function (callable or model) replacing reward_model_path (tests, toy rewards)."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import RLOOConfig as TRLRLOOConfig
    from trl import RLOOTrainer

    tokenizer = AutoTokenizer.from_pretrained(config.model_name_or_path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    chat = config.use_chat_template and bool(getattr(tokenizer, "chat_template", None))
    rows = [{"prompt": as_messages(p) if chat else pdata.plain_text(p)} for p in prompts]
    if reward_funcs is None:
        if not config.reward_model_path:
            raise common.ConfigError("RLOOConfig: reward_model_path is required to score the policy's answers")
        reward_funcs = reward_model_func(config.reward_model_path, config.rm_max_length, chat)
    common.phase("loading the policy", emit)
    model = AutoModelForCausalLM.from_pretrained(config.model_name_or_path, dtype=torch.float32)
    peft_config = None
    if config.lora_r:
        from peft import LoraConfig

        peft_config = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, task_type="CAUSAL_LM",
                                 target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    else:
        pdata.freeze_lower_layers(model, config.freeze_layers)
    args = TRLRLOOConfig(
        output_dir=str(pdata.trainer_output_dir(config.output_dir, "rloo")), num_generations=config.num_generations,
        per_device_train_batch_size=config.batch_size, max_completion_length=config.max_completion_length,
        temperature=config.temperature, beta=config.beta, learning_rate=config.learning_rate,
        max_steps=config.max_steps, seed=config.seed, bf16=False, gradient_checkpointing=False, logging_steps=1,
        report_to=[], disable_tqdm=True, save_strategy="steps" if config.save_steps and config.output_dir else "no",
        save_steps=config.save_steps or 500, save_total_limit=1,
    )
    common.phase(f"encoding {len(rows)} prompts", emit)
    trainer = RLOOTrainer(model=model, reward_funcs=reward_funcs, args=args, train_dataset=Dataset.from_list(rows),
                          processing_class=tokenizer, peft_config=peft_config, callbacks=list(callbacks))
    pdata.quiet_hf_trainer(trainer)
    return trainer


def _rloo_record(logs: dict) -> dict:
    clip = [logs[k] for k in ("clip_ratio/low_mean", "clip_ratio/high_mean") if k in logs]
    return {"loss": logs["loss"], "reward": logs.get("reward"), "reward_std": logs.get("reward_std"),
            "kl": logs.get("kl"), "entropy": logs.get("entropy"), "clip_fraction": sum(clip) if clip else None,
            "answer_length": logs.get("completions/mean_length")}


def train(config: RLOOConfig, *, prompts=None, reward_funcs=None, emit: Callable[[dict], None] = common.emit,
          check_cancel: Callable[[], None] | None = None) -> dict:
    """Optimise a policy against the reward model with RLOO; the model (LoRA merged) goes to <output_dir>/model."""
    common.quiet_transformers()
    files = []
    if prompts is None:
        prompts, source = pdata.load_prompts(config.data_path, config.prompt_split, config.max_prompts or None)
        files.append(source)
    snapshot = config.snapshot_sha256 or (common.snapshot_sha256(config.data_path, files) if files else "")
    callback = pdata.hf_progress_callback(config, snapshot, _rloo_record, emit, check_cancel)
    common.phase("loading the reward model", emit)
    trainer = build_trainer(config, prompts=prompts, reward_funcs=reward_funcs, callbacks=[callback], emit=emit)
    return pdata.hf_train_and_save(trainer, config, snapshot=snapshot, callback=callback, emit=emit,
                                   method="rloo", counts={"prompts": len(prompts)})


def main(argv: list[str] | None = None) -> int:
    return common.cli_main(RLOOConfig, train, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
