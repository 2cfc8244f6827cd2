"""Candidate files: any model's outputs, one JSON object per line:
{"prompt_id": 17 | "prompt": "text" or [msgs], "completion": "...", "model": "name",
 "sampling_params"?: {...}, "seed"?: int}."""
from __future__ import annotations

from collections.abc import Iterator

from exports.importers.reader import ImportFailure, iter_json_objects
from exports.importers.records import CandidateRecord, conversation, require


def parse_candidates(path, fmt: str = "jsonl") -> Iterator[tuple[int, CandidateRecord]]:
    if fmt != "jsonl":
        raise ImportFailure(0, f"Candidates are imported from JSON Lines, not {fmt!r}.")
    for line, obj in iter_json_objects(path):
        completion = require(obj, "completion", line)
        model = require(obj, "model", line)
        if not model.strip():
            raise ImportFailure(line, "field 'model' is empty: name the model that wrote the completion.")
        record = CandidateRecord(completion=completion, model=model.strip()[:200])
        if "prompt_id" in obj:
            record.prompt_id = require(obj, "prompt_id", line, (int,), "an integer")
        elif "prompt" in obj:
            record.conversation = conversation(obj["prompt"], line, "prompt")
        else:
            raise ImportFailure(line, "missing field 'prompt_id' (or 'prompt' with the prompt's text).")
        params = obj.get("sampling_params", {})
        if not isinstance(params, dict):
            raise ImportFailure(line, "field 'sampling_params' must be an object.")
        seed = obj.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ImportFailure(line, "field 'seed' must be an integer.")
        record.sampling_params, record.seed = params, seed
        yield line, record
