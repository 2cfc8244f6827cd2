"""Helpers shared by the trainers: config files, JSON-lines progress, checkpoints, atomic saves.

Every trainer in this package is a command-line program with the same contract, so the job
runner (training/handlers) can treat them alike:

    python -m training.ml.reward --config spec.json     # spec.json: the config dataclass as JSON

- stdout carries one JSON object per line: {"event": "phase", "message": "loading the model"},
  {"event": "log", "step": …, "progress": …, "loss": …}, {"event": "eval", …}, {"event": "checkpoint", "step": …, "path": …} and finally
  {"event": "done", "metrics": {…}, "model_dir": …}, or {"event": "error", "error": "…"} before a
  non-zero exit (2: the config or the data was refused, with the reason; 1: a crash, traceback on
  stderr). Everything human-readable goes to stderr.
- checkpoints live in <output_dir>/checkpoints/step-<N>/ with meta.json (config, the export
  snapshot's hash, the step); a rerun with the same output_dir resumes from the newest one.
- the final model is written to a temporary sibling and renamed to <output_dir>/model.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO


class ConfigError(ValueError):
    pass


# ---------------------------------------------------------------- config files
def config_from_dict(cls, data: dict[str, Any]):
    """Build config dataclass `cls` from a dict, refusing unknown keys and missing required ones
    with a message that names them (a typo in a job spec must not be silently ignored)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}")
    missing = [
        name for name, f in fields.items()
        if name not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{cls.__name__}: missing required field(s) {', '.join(missing)}")
    config = cls(**data)
    check = getattr(config, "validate", None)
    if check:
        check()
    return config


def config_to_dict(config) -> dict[str, Any]:
    return dataclasses.asdict(config)


def load_config(cls, path: str | Path):
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})")
    return config_from_dict(cls, data)


def cli_main(cls, train, argv: list[str] | None = None, doc: str = "") -> int:
    """`--config spec.json [--set key=value ...]` → train(config); prints the final event."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0] if doc else None)
    parser.add_argument("--config", required=True, help="JSON file holding the config dataclass")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one field; VALUE is parsed as JSON when it can be")
    args = parser.parse_args(argv)
    data = json.loads(Path(args.config).read_text())
    for item in args.set:
        key, _, raw = item.partition("=")
        try:
            data[key] = json.loads(raw)
        except json.JSONDecodeError:
            data[key] = raw
    try:
        config = config_from_dict(cls, data)
    except ConfigError as exc:
        emit({"event": "error", "error": str(exc)})
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        train(config)
    except ValueError as exc:  # ConfigError, DataError: the message is for the user, no traceback needed
        emit({"event": "error", "error": f"{type(exc).__name__}: {exc}"})
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        emit({"event": "error", "error": f"{type(exc).__name__}: {exc}"})
        raise
    return 0


# ---------------------------------------------------------------- progress
def emit(event: dict[str, Any], stream: TextIO | None = None) -> None:
    """One JSON object per line on stdout, flushed at once so a parent process sees it live.
    Non-finite floats become null: JSON has no NaN."""
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in event.items()}
    stream = stream or sys.stdout
    stream.write(json.dumps(clean, default=str) + "\n")
    stream.flush()


def phase(message: str, emit_fn=None, **extra: Any) -> None:
    """Say which sub-step the trainer is in ("loading the model", "encoding 480 sequences"); the
    job runner shows it as the job's message until the next phase or training step."""
    (emit_fn or emit)({"event": "phase", "message": message, **extra})


# ---------------------------------------------------------------- snapshot identity
def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def snapshot_sha256(data_path: str | Path, files: list[Path]) -> str:
    """The export snapshot's hash: the manifest's own `sha256` when the snapshot directory has
    one, else a hash over the files actually read (so a checkpoint can never be resumed against
    different data unnoticed)."""
    root = Path(data_path)
    manifest = root / "manifest.json" if root.is_dir() else None
    if manifest and manifest.exists():
        try:
            declared = json.loads(manifest.read_text()).get("sha256")
        except (json.JSONDecodeError, AttributeError):
            declared = None
        if isinstance(declared, str) and declared:
            return declared
        return file_sha256(manifest)
    digest = hashlib.sha256()
    for path in sorted(str(p) for p in files):
        digest.update(Path(path).name.encode() + b"\0" + file_sha256(path).encode())
    return digest.hexdigest()


# ---------------------------------------------------------------- atomic directories
def atomic_dir(target: Path) -> Path:
    """A fresh temporary directory beside `target`; fill it, then call `commit_dir`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))


def commit_dir(tmp: Path, target: Path) -> Path:
    """Move a finished temporary directory into place. An existing target is first renamed
    aside, so at every instant `target` is either the old complete copy or the new one."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


# ---------------------------------------------------------------- checkpoints
CHECKPOINT_PREFIX = "step-"


def checkpoint_dirs(output_dir: str | Path, prefix: str = CHECKPOINT_PREFIX) -> list[Path]:
    """Complete checkpoints, oldest first (a directory counts once its meta.json exists)."""
    root = Path(output_dir) / "checkpoints"
    if not root.is_dir():
        return []
    # [0-9]+, not str.isdigit: that also accepts '²', which int() then refuses
    found = [p for p in root.iterdir() if p.name.startswith(prefix) and re.fullmatch(r"[0-9]+", p.name[len(prefix):])
             and (p / "meta.json").exists()]
    return sorted(found, key=lambda p: int(p.name[len(prefix):]))


def latest_checkpoint(output_dir: str | Path, snapshot: str | None, prefix: str = CHECKPOINT_PREFIX) -> Path | None:
    """The newest checkpoint, refusing one made from a different export snapshot."""
    found = checkpoint_dirs(output_dir, prefix)
    if not found:
        return None
    meta = json.loads((found[-1] / "meta.json").read_text())
    if snapshot and meta.get("snapshot_sha256") and meta["snapshot_sha256"] != snapshot:
        raise ConfigError(
            f"{found[-1]} was trained on export snapshot {meta['snapshot_sha256'][:12]}, not {snapshot[:12]}: "
            "use a new output_dir or set resume=false"
        )
    return found[-1]


def write_meta(directory: Path, *, config, snapshot: str, step: int, **extra: Any) -> None:
    meta = {"config": config_to_dict(config), "snapshot_sha256": snapshot, "step": step, **extra}
    (directory / "meta.json").write_text(json.dumps(meta, indent=1, default=str))


def prune_checkpoints(output_dir: str | Path, keep: int) -> None:
    for old in checkpoint_dirs(output_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    # temporary directories left by a process killed mid-write
    for stale in (Path(output_dir) / "checkpoints").glob(f".{CHECKPOINT_PREFIX}*.tmp-*"):
        if stale.stat().st_mtime < time.time() - 60:
            shutil.rmtree(stale, ignore_errors=True)


# ---------------------------------------------------------------- models
def decoder_layers(model):
    """The model's stack of decoder layers, found by its length (any architecture)."""
    from torch import nn

    n = model.config.num_hidden_layers
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            return module
    raise ValueError(f"cannot find the {n} decoder layers of {type(model).__name__}")


def freeze_lower_layers(model, n: int) -> None:
    layers = decoder_layers(model)
    if n > len(layers):
        raise ConfigError(f"freeze_layers={n} but the model has {len(layers)} layers")
    for p in model.get_input_embeddings().parameters():
        p.requires_grad_(False)
    for layer in layers[:n]:
        for p in layer.parameters():
            p.requires_grad_(False)


def trainable_state(model) -> dict[str, Any]:
    return {n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad}


def quiet_transformers() -> None:
    """No tqdm bars or load reports on stderr: the job's log tail should hold our lines."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def pick_device(name: str) -> str:
    import torch

    if name != "auto":
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


# ---------------------------------------------------------------- wall-clock budget
class Budget:
    """A trainer's max_seconds: the number of steps that fit the rest of the budget, estimated from
    the recent steps after the first few and again every REPLAN steps (a step's cost changes when
    the load changes), the same on every process (process 0 decides, the others follow)."""

    CALIBRATION_STEPS = 3
    REPLAN = 20

    def __init__(self, accelerator, seconds: float):
        self.accelerator, self.seconds, self.clock = accelerator, seconds, time.perf_counter()
        self.step_seconds: list[float] = []

    def _agreed(self, value: int) -> int:
        if self.accelerator.num_processes == 1:
            return value
        import torch
        from accelerate.utils import broadcast

        return int(broadcast(torch.tensor([value], device=self.accelerator.device), from_process=0)[0])

    def new_total(self, *, step: int, total: int, cap: int, took: float) -> int | None:
        """After each step: the new number of steps when the budget changes it, else None."""
        if not self.seconds:
            return None
        self.step_seconds.append(took)
        n, left = len(self.step_seconds), self.seconds - (time.perf_counter() - self.clock)
        if n == self.CALIBRATION_STEPS or (n > self.CALIBRATION_STEPS and n % self.REPLAN == 0):
            recent = self.step_seconds[1:][-10:]  # the first step warms up
            fit = self._agreed(min(cap, step + max(0, int(left * len(recent) / sum(recent)))))
            return fit if fit != total else None
        if n > self.CALIBRATION_STEPS and self._agreed(int(left <= 0)):
            return step  # over budget before the estimate said: stop here
        return None
