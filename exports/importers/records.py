"""Validated import records and the field checks they share."""
from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from annotate.models import validate_conversation
from exports.importers.reader import ImportFailure


@dataclass
class PromptRecord:
    conversation: list[dict]
    source: str = ""
    tags: list[str] = field(default_factory=list)
    language: str = "en"
    dropped_turns: int = 0  # later MT-bench turns (they need the model's first answer)


@dataclass
class PreferenceRecord:
    conversation: list[dict]
    chosen: str
    rejected: str


@dataclass
class CandidateRecord:
    completion: str
    model: str
    prompt_id: int | None = None
    conversation: list[dict] | None = None
    sampling_params: dict = field(default_factory=dict)
    seed: int | None = None


def require(obj: dict, key: str, line: int, kinds=(str,), what: str = "a string"):
    if key not in obj:
        raise ImportFailure(line, f"missing field {key!r} (the line has {', '.join(map(repr, obj)) or 'no fields'}).")
    value = obj[key]
    if not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds:
        raise ImportFailure(line, f"field {key!r} must be {what}, not {type(value).__name__}.")
    return value


def conversation(value, line: int, key: str) -> list[dict]:
    """A prompt as a string (one user turn) or a message list, validated as annotate does."""
    if isinstance(value, str):
        value = [{"role": "user", "content": value}]
    try:
        validate_conversation(value)
    except ValidationError as exc:
        raise ImportFailure(line, f"field {key!r}: {' '.join(exc.messages)}")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def tags(value, line: int) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [t.strip() for t in value.split(";") if t.strip()]
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return value
    raise ImportFailure(line, "field 'tags' must be a list of strings (or, in CSV, 'a;b;c').")
