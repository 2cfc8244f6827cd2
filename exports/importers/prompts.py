"""Prompt files: JSON Lines, CSV, plain text, MT-bench / Vicuna-bench questions and
Self-Instruct seed tasks.

  jsonl       {"prompt": "..."} or {"conversation"|"messages": [{role, content}, ...]},
              optional "source", "tags" (list), "language"
  csv         header with a "prompt" (or "text") column; optional source, tags ("a;b"), language
  txt         one prompt per line; blank lines are skipped
  mt-bench    {"question_id", "category", "turns": [...]}: the first turn becomes the prompt,
              tagged with the category; later turns need the model's first answer, so they are
              counted in the result's `dropped_turns`, not imported
  self-instruct {"instruction", "instances": [{"input"}]}: instruction, plus the first
              instance's input below it when there is one
"""
from __future__ import annotations

from collections.abc import Iterator

from exports.importers.reader import ImportFailure, iter_csv_rows, iter_json_objects, iter_lines
from exports.importers.records import PromptRecord, conversation, require, tags

PROMPT_FORMATS = ("jsonl", "csv", "txt", "mt-bench", "self-instruct")


def _from_object(line: int, obj: dict) -> PromptRecord:
    if "turns" in obj:
        turns = require(obj, "turns", line, (list,), "a list of strings")
        if not turns or not all(isinstance(t, str) for t in turns):
            raise ImportFailure(line, "field 'turns' must be a non-empty list of strings.")
        qid = obj.get("question_id")
        category = obj.get("category")
        return PromptRecord(conversation=conversation(turns[0], line, "turns"),
                            source=f"question {qid}" if qid is not None else "",
                            tags=[category] if isinstance(category, str) and category else [],
                            dropped_turns=len(turns) - 1)
    if "instruction" in obj:
        text = require(obj, "instruction", line)
        instances = obj.get("instances") or []
        extra = instances[0].get("input", "") if instances and isinstance(instances[0], dict) else ""
        if extra and isinstance(extra, str) and extra.strip():
            text = f"{text}\n\n{extra}"
        return PromptRecord(conversation=conversation(text, line, "instruction"), source=str(obj.get("id", "")),
                            tags=[obj["name"]] if isinstance(obj.get("name"), str) else [])
    key = next((k for k in ("prompt", "conversation", "messages") if k in obj), None)
    if key is None:
        raise ImportFailure(line, "missing field 'prompt' (or 'conversation' / 'messages' / 'turns').")
    language = obj.get("language", "en")
    if not isinstance(language, str) or len(language) > 16:
        raise ImportFailure(line, "field 'language' must be a short string such as 'en'.")
    source = obj.get("source", "")
    if not isinstance(source, str):
        raise ImportFailure(line, "field 'source' must be a string.")
    return PromptRecord(conversation=conversation(obj[key], line, key), source=source[:200],
                        tags=tags(obj.get("tags"), line), language=language or "en")


def parse_prompts(path, fmt: str) -> Iterator[tuple[int, PromptRecord]]:
    if fmt in ("jsonl", "mt-bench", "self-instruct"):
        for line, obj in iter_json_objects(path):
            if fmt == "mt-bench" and "turns" not in obj:
                raise ImportFailure(line, "missing field 'turns' (an MT-bench question has question_id, category, turns).")
            if fmt == "self-instruct" and "instruction" not in obj:
                raise ImportFailure(line, "missing field 'instruction' (a Self-Instruct task).")
            yield line, _from_object(line, obj)
    elif fmt == "csv":
        for line, row in iter_csv_rows(path):
            key = "prompt" if "prompt" in row else "text" if "text" in row else None
            if key is None:
                raise ImportFailure(1, f"the CSV header needs a 'prompt' column; it has {', '.join(row)}.")
            if not row[key].strip():
                raise ImportFailure(line, f"the '{key}' column is empty.")
            yield line, PromptRecord(conversation=conversation(row[key], line, key),
                                     source=row.get("source", "")[:200], tags=tags(row.get("tags"), line),
                                     language=(row.get("language") or "en").strip()[:16])
    elif fmt == "txt":
        for line, text in iter_lines(path):
            if text.strip():
                yield line, PromptRecord(conversation=conversation(text, line, "text"))
    else:
        raise ImportFailure(0, f"Unknown prompt format {fmt!r}; choose from {', '.join(PROMPT_FORMATS)}.")
