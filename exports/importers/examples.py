"""Example datasets shipped in data/examples, offered by the import page and API in one click,
so a demo needs no file from outside the repository.

    path = EXAMPLES["hh-rlhf-harmless-base-dev"].path   # then imported like an upload of that file
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "data" / "examples"


@dataclass(frozen=True)
class Example:
    key: str
    title: str
    kind: str  # an import kind (exports.services.imports.IMPORT_KINDS)
    fmt: str
    filename: str
    license: str
    records: int

    @property
    def path(self) -> Path:
        return EXAMPLES_DIR / self.filename

    @property
    def label(self) -> str:
        return f"{self.title}: {self.records:,} {self.kind}, {self.fmt} ({self.license})"


EXAMPLES = {e.key: e for e in [
    Example(key="hh-rlhf-harmless-base-dev", title="Anthropic HH-RLHF harmless-base (dev sample)",
            kind="preferences", fmt="hh-rlhf", filename="hh_rlhf_harmless_base_dev.jsonl.gz",
            license="MIT, Anthropic; data/examples/LICENSE-MIT-Anthropic.txt", records=1200),
]}
