"""Preference files: TRL preference JSON Lines and Anthropic HH-RLHF transcripts.

  trl     standard {"prompt": str, "chosen": str, "rejected": str}; conversational
          {"prompt": [msgs], "chosen": [assistant msg], "rejected": [assistant msg]}; or the
          implicit-prompt form {"chosen": [msgs], "rejected": [msgs]} sharing all but the last
          message. A standard prompt written as an HH transcript ending in "Assistant: " (as
          Ranklab exports multi-turn prompts) is read back as its turns.
  hh-rlhf {"chosen": "\\n\\nHuman: …\\n\\nAssistant: …", "rejected": "…"}: both transcripts
          share everything before the last "\\n\\nAssistant:"; that prefix is the prompt.

Texts are kept exactly (no trimming): a transcript exported again is byte-identical.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from exports.importers.reader import ImportFailure, iter_json_objects
from exports.importers.records import PreferenceRecord, conversation, require

PREFERENCE_FORMATS = ("trl", "hh-rlhf")
_TURN = re.compile(r"\n\n(Human|Assistant|System):")
_ROLE = {"Human": "user", "Assistant": "assistant", "System": "system"}
ASSISTANT = "\n\nAssistant:"


def transcript_turns(text: str, line: int, key: str) -> list[dict]:
    parts = _TURN.split(text)
    if parts[0] != "" or len(parts) < 3:
        raise ImportFailure(line, f"field {key!r} is not an HH transcript: it must start with '\\n\\nHuman:'.")
    turns = []
    for speaker, content in zip(parts[1::2], parts[2::2], strict=True):
        # "Human: text": the one space after the colon belongs to the format, not the text.
        turns.append({"role": _ROLE[speaker], "content": content[1:] if content.startswith(" ") else content})
    return turns


def _split_hh(text: str, line: int, key: str) -> tuple[str, str]:
    cut = text.rfind(ASSISTANT)
    if cut < 0:
        raise ImportFailure(line, f"field {key!r} has no '\\n\\nAssistant:' turn.")
    answer = text[cut + len(ASSISTANT):]
    return text[:cut], answer[1:] if answer.startswith(" ") else answer


def _hh(line: int, obj: dict) -> PreferenceRecord:
    chosen, rejected = require(obj, "chosen", line), require(obj, "rejected", line)
    prefix, chosen_text = _split_hh(chosen, line, "chosen")
    other, rejected_text = _split_hh(rejected, line, "rejected")
    if prefix != other:
        raise ImportFailure(line, "'chosen' and 'rejected' differ before their last Assistant turn; "
                                  "an HH comparison must share the conversation.")
    turns = transcript_turns(prefix, line, "chosen")
    return PreferenceRecord(conversation=conversation(turns, line, "chosen"), chosen=chosen_text, rejected=rejected_text)


def _last_assistant(value, line: int, key: str) -> str:
    if isinstance(value, str):
        return value
    if (isinstance(value, list) and value and isinstance(value[-1], dict)
            and value[-1].get("role") == "assistant" and isinstance(value[-1].get("content"), str)):
        return value[-1]["content"]
    raise ImportFailure(line, f"field {key!r} must be a string or a message list ending with an assistant message.")


def _trl(line: int, obj: dict) -> PreferenceRecord:
    for key in ("chosen", "rejected"):
        if key not in obj:
            raise ImportFailure(line, f"missing field {key!r} (the line has {', '.join(map(repr, obj))}).")
    if "prompt" not in obj:
        chosen, rejected = obj["chosen"], obj["rejected"]
        if not (isinstance(chosen, list) and isinstance(rejected, list)):
            raise ImportFailure(line, "missing field 'prompt' (only conversational rows may leave it implicit).")
        if chosen[:-1] != rejected[:-1]:
            raise ImportFailure(line, "implicit prompt: 'chosen' and 'rejected' differ before their last message.")
        prompt = chosen[:-1]
    else:
        prompt = obj["prompt"]
        if isinstance(prompt, str) and prompt.startswith("\n\nHuman:") and prompt.endswith("\n\nAssistant: "):
            prompt = transcript_turns(prompt[: -len("\n\nAssistant: ")], line, "prompt")
    if not isinstance(prompt, (str, list)):
        raise ImportFailure(line, f"field 'prompt' must be a string or a message list, not {type(prompt).__name__}.")
    return PreferenceRecord(conversation=conversation(prompt, line, "prompt"),
                            chosen=_last_assistant(obj["chosen"], line, "chosen"),
                            rejected=_last_assistant(obj["rejected"], line, "rejected"))


def parse_preferences(path, fmt: str) -> Iterator[tuple[int, PreferenceRecord]]:
    if fmt not in PREFERENCE_FORMATS:
        raise ImportFailure(0, f"Unknown preference format {fmt!r}; choose from {', '.join(PREFERENCE_FORMATS)}.")
    parse = _hh if fmt == "hh-rlhf" else _trl
    for line, obj in iter_json_objects(path):
        yield line, parse(line, obj)
