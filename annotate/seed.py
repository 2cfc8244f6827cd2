"""Reading the shipped seed prompt files (data/seed/) into conversations."""
from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings

SEED_DIR = Path(settings.BASE_DIR) / "data" / "seed"


def _jsonl(path: Path):
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def seed_prompts() -> dict[str, list[dict]]:
    """{source: [{"conversation", "tags"}]} from MT-bench, Vicuna bench and self-instruct.
    MT-bench's second turn needs an answer to the first, so only the first turn is a prompt."""
    out: dict[str, list[dict]] = {}
    for source, name in (("mt-bench", "mt_bench_questions.jsonl"), ("vicuna-bench", "vicuna_bench_questions.jsonl")):
        out[source] = [
            {"conversation": [{"role": "user", "content": q["turns"][0]}], "tags": [q["category"]]}
            for q in _jsonl(SEED_DIR / name)
        ]
    rows = []
    for task in _jsonl(SEED_DIR / "self_instruct_seed_tasks.jsonl"):
        instance = (task.get("instances") or [{}])[0]
        text = task["instruction"] + (f"\n\n{instance['input']}" if instance.get("input") else "")
        rows.append({"conversation": [{"role": "user", "content": text}],
                     "tags": ["classification" if task.get("is_classification") else "generation"]})
    out["self-instruct"] = rows
    return out
