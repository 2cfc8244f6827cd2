"""The export formats: name -> Format (what it reads, how a record becomes rows, its Parquet
schema). Documented with examples in docs/formats.md; pure Python, no Django.

`reads` is "groups" (rankings, or consensus rows with merge=consensus), "submissions" (every
submission as made, whatever the merge option) or "demos" (demonstrations).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from exports.writers import groups, preference, sft


@dataclass(frozen=True)
class Format:
    name: str
    reads: str
    rows: Callable
    schema: str  # key of SCHEMAS, built on demand (pyarrow loads only for Parquet)
    description: str
    lines: Callable | None = None  # optional fast path: yields JSON lines equal to encoding rows()


FORMATS: dict[str, Format] = {f.name: f for f in [
    Format("ranked_groups", "groups", groups.ranked_group_rows, "ranked_groups",
           "one row per ranking: prompt, completions, tiers (InstructGPT per-prompt form)"),
    Format("preference", "groups", preference.preference_rows, "preference",
           "TRL preference, standard: prompt/chosen/rejected strings, one row per pair", preference.preference_lines),
    Format("preference_chat", "groups", preference.preference_chat_rows, "preference_chat",
           "TRL preference, conversational: message lists, one row per pair"),
    Format("openai_preference", "groups", preference.openai_preference_rows, "openai_preference",
           "OpenAI preference (DPO) fine-tuning JSONL"),
    Format("hh", "groups", preference.hh_rows, "hh", "Anthropic HH-RLHF chosen/rejected transcripts"),
    Format("kto", "groups", groups.kto_rows, "kto", "KTO unpaired prompt/completion/label"),
    Format("sft_messages", "demos", sft.sft_messages_rows, "sft_messages", "SFT chat: messages"),
    Format("sft_prompt_completion", "demos", sft.sft_prompt_completion_rows, "sft_prompt_completion",
           "SFT: prompt/completion strings"),
    Format("openai_chat", "demos", sft.sft_messages_rows, "sft_messages", "OpenAI chat fine-tuning JSONL"),
    Format("raw", "submissions", groups.raw_rows, "raw",
           "every submission: pseudonymous labeler, time on task, shown order, flags, ratings"),
]}


def schemas(margin: bool = False) -> dict:
    """Parquet schemas by key; `margin` adds the float column to the preference formats."""
    import pyarrow as pa

    msgs = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    ints = pa.list_(pa.int64())
    extra = [("margin", pa.float64())] if margin else []
    return {
        "ranked_groups": pa.schema([
            ("id", pa.string()), ("task_id", pa.int64()), ("prompt_id", pa.int64()), ("prompt", msgs),
            ("completions", pa.list_(pa.string())), ("tiers", pa.list_(ints)),
            ("preference_strength", pa.string()), ("ratings", ints), ("labeler", pa.string()),
            ("source", pa.string()), ("submissions", pa.int64()), ("split", pa.string()),
        ]),
        "preference": pa.schema([("prompt", pa.string()), ("chosen", pa.string()), ("rejected", pa.string())] + extra),
        "preference_chat": pa.schema([("prompt", msgs), ("chosen", msgs), ("rejected", msgs)] + extra),
        "openai_preference": pa.schema([("input", pa.struct([("messages", msgs)])), ("preferred_output", msgs),
                                        ("non_preferred_output", msgs)]),
        "hh": pa.schema([("chosen", pa.string()), ("rejected", pa.string())]),
        "kto": pa.schema([("prompt", pa.string()), ("completion", pa.string()), ("label", pa.bool_())]),
        "sft_messages": pa.schema([("messages", msgs)]),
        "sft_prompt_completion": pa.schema([("prompt", pa.string()), ("completion", pa.string())]),
        "raw": pa.schema([
            ("id", pa.string()), ("task_id", pa.int64()), ("prompt_id", pa.int64()), ("split", pa.string()),
            ("labeler", pa.string()), ("source", pa.string()), ("outcome", pa.string()), ("prompt", msgs),
            ("candidate_ids", ints), ("completions", pa.list_(pa.string())), ("model_versions", ints),
            ("tiers", pa.list_(ints)), ("ratings", ints), ("flags", pa.list_(pa.list_(pa.string()))),
            ("preference_strength", pa.string()), ("shown_order", ints), ("time_on_task_ms", pa.int64()),
            ("created_at", pa.string()), ("review_status", pa.string()), ("is_gold", pa.bool_()),
            ("cant_judge_reason", pa.string()), ("rationale", pa.string()),
        ]),
    }
