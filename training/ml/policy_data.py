"""Data in and artifacts out for the policy trainers (dpo.py, ppo.py, rloo.py). No Django.

Builds on training/ml/data.py (reading snapshot files) and training/ml/common.py (the trainer
contract: JSON-lines events on stdout, checkpoints under <output_dir>/checkpoints/ with
meta.json, the final model at <output_dir>/model, written whole then renamed).

`data_path` is an export snapshot directory or one file. From it:
    load_preference_pairs   DPO pairs in TRL's form, from the first of preference_chat,
                            ranked_groups (all C(K,2) untied pairs of each ranking), preference, hh
    load_prompts            distinct prompts to sample answers for (PPO, RLOO), from ranked_groups,
                            preference_chat, preference, hh or sft_messages
    load_demonstrations     SFT conversations (the ptx term of PPO-ptx)
Prompts are chat messages wherever the data has them; `prompt_text` renders them for the policy
with the tokenizer's chat template, as training/ml/data.encode_completion does for reward models,
so the policy and the reward model see the same text.
"""
from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from training.ml import common
from training.ml.data import DataError, as_messages, hh_split, parse_group, read_rows, resolve_split
from training.ml.data import load_demonstrations as _load_demonstrations

PAIR_FORMATS = ("preference_chat", "ranked_groups", "preference", "hh")
PROMPT_FORMATS = ("ranked_groups", "preference_chat", "preference", "hh", "sft_messages", "sft")
META_FILE = "ranklab.json"


def resolve_first(path, formats: tuple[str, ...], split: str) -> tuple[Path, str]:
    """(file, format): a file path as is (format read from its parent folder's name), or the first
    format of `formats` that the snapshot directory holds for this split."""
    path = Path(path)
    if path.is_file():
        return path, path.parent.name
    for fmt in formats:
        found = resolve_split(path, fmt, split, required=False)
        if found is not None and found.parent.name == fmt:
            return found, fmt
    raise DataError(f"{path} has none of {', '.join(f'{f}/{split}' for f in formats)}: export the project "
                    f"with one of these formats.")


def _hh_pair(row: dict, where: str) -> dict:
    try:
        prompt, chosen = hh_split(row["chosen"])
        prompt_r, rejected = hh_split(row["rejected"])
    except KeyError:
        raise DataError(f"{where}: an HH row needs 'chosen' and 'rejected'") from None
    if prompt_r != prompt:
        raise DataError(f"{where}: chosen and rejected have different conversations")
    return {"prompt": prompt, "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}]}


PAIR_CHOICES = ("all", "best_worst")


def pairs_of_row(row: dict, fmt: str, where: str, choice: str = "all") -> list[dict]:
    """A row's comparisons. For a ranking, `choice` "all" gives every untied pair, "best_worst" one
    pair: the first answer of the top tier against the first of the bottom tier."""
    if fmt == "ranked_groups" or ("completions" in row and "tiers" in row):
        group = parse_group(row, where)
        answer = (lambda t: [{"role": "assistant", "content": t}]) if isinstance(group.prompt, list) else (lambda t: t)
        pairs = group.pairs()
        if choice == "best_worst":
            ranked = [t for t in group.tiers if t]
            pairs = [(ranked[0][0], ranked[-1][0])] if len(ranked) > 1 else []
        return [{"prompt": group.prompt, "chosen": answer(group.completions[a]),
                 "rejected": answer(group.completions[b])} for a, b in pairs]
    if "chosen" in row and "rejected" in row:
        if "prompt" not in row:
            return [_hh_pair(row, where)]
        if isinstance(row["prompt"], str) != isinstance(row["chosen"], str):
            raise DataError(f"{where}: prompt and chosen must both be text or both be message lists")
        return [{"prompt": row["prompt"], "chosen": row["chosen"], "rejected": row["rejected"]}]
    raise DataError(f"{where}: not a preference row (needs prompt/chosen/rejected, HH chosen/rejected, "
                    "or completions/tiers)")


def load_preference_pairs(path, split: str = "train", limit: int | None = None,
                          choice: str = "all") -> tuple[list[dict], Path]:
    if choice not in PAIR_CHOICES:
        raise DataError(f"pairs_per_ranking must be one of {', '.join(PAIR_CHOICES)}, not {choice!r}")
    source, fmt = resolve_first(path, PAIR_FORMATS, split)
    pairs: list[dict] = []
    for n, row in read_rows(source):
        pairs.extend(pairs_of_row(row, fmt, f"{source.name} line {n}", choice))
        if limit and len(pairs) >= limit:
            return pairs[:limit], source
    if not pairs:
        raise DataError(f"{source} holds no comparisons (ties do not count): label some ranking tasks and export again")
    return pairs, source


def prompt_of_row(row: dict, where: str):
    if "prompt" in row:
        return row["prompt"]
    if "messages" in row:
        msgs = row["messages"]
        return msgs[:-1] if msgs and msgs[-1].get("role") == "assistant" else msgs
    if "chosen" in row:
        return hh_split(row["chosen"])[0]
    raise DataError(f"{where}: no prompt in this row ('prompt', 'messages' or HH 'chosen')")


def load_prompts(path, split: str = "train", limit: int | None = None) -> tuple[list, Path]:
    """Distinct prompts in file order (a prompt ranked by several labelers counts once)."""
    source, _ = resolve_first(path, PROMPT_FORMATS, split)
    seen, prompts = set(), []
    for n, row in read_rows(source):
        prompt = prompt_of_row(row, f"{source.name} line {n}")
        key = json.dumps(prompt, sort_keys=True)
        if key not in seen:
            seen.add(key)
            prompts.append(prompt)
        if limit and len(prompts) >= limit:
            break
    if not prompts:
        raise DataError(f"{source} holds no prompts")
    return prompts, source


def load_demonstrations(path, split: str = "train") -> tuple[list[list[dict]], Path]:
    demos, source = _load_demonstrations(path, split)
    if not demos:
        raise DataError(f"{source} holds no demonstrations")
    return demos, source


def plain_text(prompt) -> str:
    return prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)


def prompt_text(tokenizer, prompt, use_chat_template: bool = True) -> str:
    """The text the policy continues: the chat template with the assistant turn opened, or plain text."""
    if use_chat_template and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(as_messages(prompt), tokenize=False, add_generation_prompt=True)
    return plain_text(prompt)


def as_trl_pair(pair: dict, use_chat_template: bool) -> dict:
    """TRL applies the chat template to conversational rows; without one, everything is plain text."""
    if use_chat_template:
        if isinstance(pair["prompt"], str):
            return {"prompt": as_messages(pair["prompt"]),
                    "chosen": [{"role": "assistant", "content": pair["chosen"]}],
                    "rejected": [{"role": "assistant", "content": pair["rejected"]}]}
        return pair

    def text(answer):
        return answer if isinstance(answer, str) else answer[-1]["content"]

    return {"prompt": plain_text(pair["prompt"]), "chosen": text(pair["chosen"]), "rejected": text(pair["rejected"])}


# ---------------------------------------------------------------- models and artifacts

def freeze_lower_layers(model, n: int) -> None:
    """Freeze the input embeddings (and so a tied LM head) and the lowest n decoder layers."""
    if n <= 0:
        return
    layers = model.get_decoder().layers
    if n > len(layers):
        raise common.ConfigError(f"freeze_layers={n} but the model has {len(layers)} layers")
    model.get_input_embeddings().requires_grad_(False)
    for layer in layers[:n]:
        layer.requires_grad_(False)


def save_policy(model, tokenizer, output_dir, meta: dict) -> Path:
    """<output_dir>/model: plain transformers weights (a LoRA adapter merged), written to a temporary
    sibling and renamed, so a crash never leaves a half-written model where the registry looks."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    target = Path(output_dir) / "model"
    tmp = common.atomic_dir(target)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / META_FILE).write_text(json.dumps(meta, indent=1, default=str))
    return common.commit_dir(tmp, target)


# ---------------------------------------------------------------- TRL / HF Trainer glue

def quiet_hf_trainer(trainer) -> None:
    """Stdout carries our JSON lines only: drop the Trainer's own printer of log dicts."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)


def hf_checkpoint_root(output_dir) -> Path:
    return Path(output_dir) / "checkpoints"


def trainer_output_dir(output_dir: str, method: str) -> Path:
    """Where the HF Trainer keeps checkpoints: <output_dir>/checkpoints, or scratch space without output_dir."""
    return hf_checkpoint_root(output_dir) if output_dir else Path(tempfile.mkdtemp(prefix=f"ranklab-{method}-"))


def hf_resumable_checkpoint(output_dir, snapshot: str) -> Path | None:
    """The newest HF checkpoint (checkpoint-N with our meta.json); one from another snapshot is refused."""
    root = hf_checkpoint_root(output_dir)
    found = sorted((p for p in root.glob("checkpoint-*") if (p / "meta.json").exists()),
                   key=lambda p: int(p.name.split("-")[1])) if root.is_dir() else []
    if not found:
        return None
    meta = json.loads((found[-1] / "meta.json").read_text())
    if snapshot and meta.get("snapshot_sha256") and meta["snapshot_sha256"] != snapshot:
        raise common.ConfigError(f"{found[-1]} was trained on export snapshot {meta['snapshot_sha256'][:12]}, not "
                                 f"{snapshot[:12]}: use a new output_dir or set resume=false")
    return found[-1]


def hf_progress_callback(config, snapshot: str, pick: Callable[[dict], dict], emit: Callable[[dict], None],
                         check_cancel: Callable[[], None] | None = None):
    """A TrainerCallback that turns the trainer's log dicts into "log" events (pick maps TRL's names
    to ours), stamps each checkpoint with config + snapshot + step, and honours cancellation."""
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def __init__(self):
            self.last: dict[str, Any] = {}
            self.history: dict[str, list] = {}

        def on_train_begin(self, args, state, control, **kwargs):
            emit({"event": "start", "total_steps": state.max_steps, "resumed_from_step": state.global_step})

        def on_step_end(self, args, state, control, **kwargs):
            if check_cancel:
                check_cancel()

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if "loss" not in logs:
                return
            values = {k: v for k, v in pick(logs).items() if v is not None}
            for key, value in values.items():
                self.history.setdefault(key, []).append([state.global_step, value])
            self.last = values
            emit({"event": "log", "step": state.global_step, "progress": state.global_step / (state.max_steps or 1),
                  **values})

        def on_save(self, args, state, control, **kwargs):
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if ckpt.exists():
                common.write_meta(ckpt, config=config, snapshot=snapshot, step=state.global_step)
                emit({"event": "checkpoint", "step": state.global_step, "path": str(ckpt)})

    return Progress()


def hf_train_and_save(trainer, config, *, snapshot: str, callback, emit: Callable[[dict], None], method: str,
                      counts: dict[str, int]) -> dict:
    """The tail shared by the TRL-based trainers (DPO, RLOO): resume from the newest checkpoint
    of the same snapshot, train, save the policy with its meta, emit "done"."""
    resume = hf_resumable_checkpoint(config.output_dir, snapshot) if config.output_dir and config.resume else None
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    final = {"steps": trainer.state.global_step, **counts, "train_loss": output.training_loss,
             "history": callback.history, **{f"final_{k}": v for k, v in callback.last.items()}}
    model_dir = None
    if config.output_dir:
        common.phase("saving the model", emit)
        meta = {"config": common.config_to_dict(config), "snapshot_sha256": snapshot,
                "step": trainer.state.global_step, "metrics": final, "kind": "policy", "method": method}
        model_dir = save_policy(trainer.model, trainer.processing_class, config.output_dir, meta)
    emit({"event": "done", "progress": 1.0, "model_dir": str(model_dir) if model_dir else None, "metrics": final})
    return final
