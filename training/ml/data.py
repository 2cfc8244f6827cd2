"""Reading export snapshots: ranked groups (reward model) and demonstrations (SFT).

Formats are those of docs/formats (the export contract): one JSON object per line, optionally
gzip-compressed (`.jsonl.gz`), or Parquet. A snapshot directory holds `<format>/<split>.jsonl`.

    groups = load_ranked_groups("var/exports/p1/v3", split="train")
    ids = encode_completion(tokenizer, groups[0].prompt, groups[0].completions[0], max_length=512)

Tier semantics follow core/ranking.py (best tier first, same tier = tie); the trainer
redoes that index math on tensors.
"""
from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")
# Llama 2's margins for "significantly / better / slightly / negligibly better", scaled by
# RewardConfig.margin_scale (off by default, as in InstructGPT).
STRENGTH_MARGIN = {"much_better": 1.0, "better": 2 / 3, "slightly_better": 1 / 3, "about_the_same": 0.0}


class DataError(ValueError):
    pass


# ---------------------------------------------------------------- files
def read_rows(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for each row of a JSONL / JSONL.gz / Parquet file."""
    path = Path(path)
    if path.name.endswith(".parquet"):
        import pyarrow.parquet as pq

        for number, row in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield number, row
        return
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path.name} line {number}: not valid JSON ({exc.msg})")
            if not isinstance(row, dict):
                raise DataError(f"{path.name} line {number}: expected a JSON object")
            yield number, row


def resolve_split(path: str | Path, fmt: str, split: str, *, required: bool = True) -> Path | None:
    """A file path is used as is; a snapshot directory gives `<dir>/<fmt>/<split>.<suffix>`
    (or `<dir>/<split>.<suffix>` for a directory holding one format)."""
    path = Path(path)
    if path.is_file():
        return path
    for base in (path / fmt, path):
        for suffix in SUFFIXES:
            candidate = base / f"{split}{suffix}"
            if candidate.is_file():
                return candidate
    if required:
        raise DataError(f"no {fmt}/{split}{{{','.join(SUFFIXES)}}} under {path}")
    return None


# ---------------------------------------------------------------- ranked groups
@dataclass
class RankedGroup:
    prompt: list[dict[str, str]] | str
    completions: list[str]
    tiers: list[list[int]]
    id: str = ""
    prompt_id: Any = None
    preference_strength: str | None = None
    ratings: list[int | None] = field(default_factory=list)
    labeler: str | None = None
    split: str | None = None

    def levels(self) -> list[int]:
        """Tier level per completion (lower is better), -1 for a completion left unranked."""
        level = [-1] * len(self.completions)
        for tier_index, tier in enumerate(self.tiers):
            for item in tier:
                level[item] = tier_index
        return level

    def pairs(self) -> list[tuple[int, int]]:
        """(better, worse) index pairs, ties excluded: core.ranking.ranked_pairs on indices."""
        flat = [(lv, i) for lv, tier in enumerate(self.tiers) for i in tier]
        return [(a, b) for n, (la, a) in enumerate(flat) for lb, b in flat[n + 1:] if la < lb]

    def margin(self, scale: float) -> float:
        return scale * STRENGTH_MARGIN.get(self.preference_strength or "", 0.0) if scale else 0.0


def parse_group(row: dict[str, Any], where: str) -> RankedGroup:
    completions = row.get("completions")
    if not isinstance(completions, list) or not all(isinstance(c, str) for c in completions):
        raise DataError(f"{where}: 'completions' must be a list of strings")
    tiers = row.get("tiers")
    if not isinstance(tiers, list) or not all(isinstance(t, list) for t in tiers):
        raise DataError(f"{where}: 'tiers' must be a list of lists of completion indices")
    seen: set[int] = set()
    for tier in tiers:
        for item in tier:
            if not isinstance(item, int) or isinstance(item, bool) or not 0 <= item < len(completions):
                raise DataError(f"{where}: tier index {item!r} out of range for {len(completions)} completions")
            if item in seen:
                raise DataError(f"{where}: completion {item} appears in two tiers")
            seen.add(item)
    prompt = row.get("prompt")
    if isinstance(prompt, list):
        for msg in prompt:
            if not isinstance(msg, dict) or not isinstance(msg.get("content"), str) or "role" not in msg:
                raise DataError(f"{where}: prompt messages need 'role' and string 'content'")
    elif not isinstance(prompt, str):
        raise DataError(f"{where}: 'prompt' must be a string or a list of messages")
    strength = row.get("preference_strength")
    if strength is not None and strength not in STRENGTH_MARGIN:
        raise DataError(f"{where}: unknown preference_strength {strength!r}")
    return RankedGroup(
        prompt=prompt, completions=completions, tiers=[list(t) for t in tiers if t], id=str(row.get("id", "")),
        prompt_id=row.get("prompt_id"), preference_strength=strength, ratings=list(row.get("ratings") or []),
        labeler=row.get("labeler"), split=row.get("split"),
    )


def load_ranked_groups(path: str | Path, split: str = "train", *, required: bool = True) -> tuple[list[RankedGroup], Path | None]:
    """(groups, file read). Groups without a single untied pair stay in the list: the trainer
    counts and reports them instead of dropping them silently."""
    source = resolve_split(path, "ranked_groups", split, required=required)
    if source is None:
        return [], None
    groups = [parse_group(row, f"{source.name} line {n}") for n, row in read_rows(source)]
    return groups, source


# ---------------------------------------------------------------- encoding
def as_messages(prompt: list[dict[str, str]] | str) -> list[dict[str, str]]:
    return [dict(m) for m in prompt] if isinstance(prompt, list) else [{"role": "user", "content": prompt}]


def encode_completion(tokenizer, prompt, completion: str, *, max_length: int, use_chat_template: bool = True) -> list[int]:
    """Token ids of prompt + completion, truncated from the left so the end of the completion
    (where a sequence classifier reads its score) always survives."""
    if use_chat_template and getattr(tokenizer, "chat_template", None):
        messages = as_messages(prompt) + [{"role": "assistant", "content": completion}]
        text = tokenizer.apply_chat_template(messages, tokenize=False)
    else:
        prompt_text = prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)
        text = prompt_text + completion + (tokenizer.eos_token or "")
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return ids[-max_length:]


# ---------------------------------------------------------------- demonstrations (SFT)
def parse_demonstration(row: dict[str, Any], where: str) -> list[dict[str, str]]:
    """Either {"messages": [...ending with an assistant turn]} or {"prompt", "completion"} (each a
    string or messages) → one conversation."""
    if "messages" in row:
        messages = row["messages"]
    elif "prompt" in row and "completion" in row:
        completion = row["completion"]
        completion = [{"role": "assistant", "content": completion}] if isinstance(completion, str) else completion
        messages = as_messages(row["prompt"]) + list(completion or [])
    else:
        raise DataError(f"{where}: expected 'messages' or 'prompt' + 'completion'")
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where}: 'messages' must be a non-empty list")
    for msg in messages:
        if not isinstance(msg, dict) or not isinstance(msg.get("content"), str) or msg.get("role") not in (
            "system", "user", "assistant"
        ):
            raise DataError(f"{where}: each message needs a role (system/user/assistant) and string content")
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        raise DataError(f"{where}: no assistant turn to learn from")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def load_demonstrations(path: str | Path, split: str = "train", *, required: bool = True) -> tuple[list[list[dict]], Path | None]:
    source = None
    for fmt in ("sft_messages", "sft_prompt_completion", "sft"):
        source = resolve_split(path, fmt, split, required=False)
        if source:
            break
    if source is None:
        if required:
            raise DataError(f"no sft_messages/{split} or sft_prompt_completion/{split} file under {path}")
        return [], None
    return [parse_demonstration(row, f"{source.name} line {n}") for n, row in read_rows(source)], source


# ---------------------------------------------------------------- HH-RLHF transcripts
def hh_split(transcript: str) -> tuple[list[dict[str, str]], str]:
    """'\\n\\nHuman: …\\n\\nAssistant: …' → (prompt messages, final assistant reply)."""
    head, sep, reply = transcript.rpartition("\n\nAssistant:")
    if not sep:
        raise DataError("HH transcript without an Assistant turn")
    messages = []
    for chunk in head.split("\n\n"):
        for tag, role in (("Human:", "user"), ("Assistant:", "assistant")):
            if chunk.startswith(tag):
                messages.append({"role": role, "content": chunk[len(tag):].strip()})
                break
        else:
            if messages:  # a paragraph break inside a turn
                messages[-1]["content"] += "\n\n" + chunk
    return messages, reply.strip()


def hh_to_group(row: dict[str, str], index: int) -> RankedGroup:
    prompt, chosen = hh_split(row["chosen"])
    prompt_r, rejected = hh_split(row["rejected"])
    if prompt_r != prompt:
        raise DataError(f"HH row {index}: chosen and rejected have different prompts")
    return RankedGroup(prompt=prompt, completions=[chosen, rejected], tiers=[[0], [1]], id=f"hh{index}",
                       prompt_id=json.dumps(prompt, sort_keys=True))
