"""Demonstration formats: TRL SFT `messages` and `prompt`/`completion`, and OpenAI chat
fine-tuning JSONL (the same `messages` shape, which OpenAI reads as is)."""
from __future__ import annotations

from collections.abc import Iterator

from exports.writers.records import Demo, WriteOptions
from exports.writers.text import prompt_text


def sft_messages_rows(demo: Demo, opts: WriteOptions) -> Iterator[dict]:
    yield {"messages": demo.messages}


def sft_prompt_completion_rows(demo: Demo, opts: WriteOptions) -> Iterator[dict]:
    yield {"prompt": prompt_text(demo.messages[:-1]), "completion": demo.messages[-1]["content"]}
