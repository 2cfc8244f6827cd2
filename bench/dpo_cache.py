"""DPO seconds per epoch with and without cache_frozen, on SmolLM2-135M with the CPU preset's settings.

    RANKLAB_TORCH_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/python bench/dpo_cache.py [--pairs 64 --epochs 2 --repeats 1]

The pairs are prompts from data/seed/vicuna_bench_questions.jsonl with synthetic answers of the
lengths a round's 64-token candidates have (a short chosen one, a long rejected one). Each repeat
runs the trainer (training/ml/dpo.py, PRESET_POLICY["dpo"] but for cache_frozen and epochs) with
the cache off, then on (the second repeat on, then off), so both see the same load; an epoch's
seconds (wall, and the process's CPU seconds, steadier on a shared machine: torch runs one
thread) are the time between the log events that close it. The reference pass (which fills the
cache) is timed apart. Last line: `dpo_cache pairs=… epoch_s_off=… epoch_s_on=… ratio=…`.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SMOL = Path("/tmp/smolconv/SmolLM2-135M-Instruct")
FILLER = ("It depends on what you need, and there are several things worth weighing before you choose, "
          "such as the time you have, the tools at hand and the people who will read the result. ")


def preset_dpo() -> dict:
    """PRESET_POLICY["dpo"], read from its file: the training.services package needs Django set up."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("presets", ROOT / "training" / "services" / "rounds" / "presets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PRESET_POLICY["dpo"]


def write_pairs(path: Path, n: int) -> Path:
    """ranked_groups rows: one prompt, a short answer ranked above a long one (one pair each)."""
    questions = [json.loads(line)["turns"][0]
                 for line in (ROOT / "data" / "seed" / "vicuna_bench_questions.jsonl").read_text().splitlines()]
    rows = []
    for i in range(n):
        q = questions[i % len(questions)]
        short = f"In short: {q.rstrip('?').lower()}, step by step."
        long = f"{FILLER * 2}Answer {i}: {q}"
        rows.append({"prompt": [{"role": "user", "content": q}], "completions": [short, long], "tiers": [[0], [1]]})
    (path / "ranked_groups").mkdir(parents=True)
    (path / "manifest.json").write_text(json.dumps({"sha256": "0" * 64}))
    (path / "ranked_groups" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run(model_dir: Path, data: Path, *, pairs: int, epochs: int, cache: bool) -> dict:
    from training.ml import dpo

    options = {**preset_dpo(), "epochs": epochs, "cache_frozen": cache}
    config = dpo.DPOConfig(model_name_or_path=str(model_dir), data_path=str(data), **options)
    stamps: dict = {}

    def emit(event):
        now = (time.perf_counter(), time.process_time())
        if event["event"] == "phase" and event["message"].startswith("encoding"):
            stamps["encoding"] = now
        elif event["event"] == "start":
            stamps["start"] = now
        elif event["event"] == "log":
            stamps[event["step"]] = now

    dpo.train(config, emit=emit)
    per_epoch = math.ceil(pairs / config.batch_size)
    ends = [stamps["start"]] + [stamps[per_epoch * (e + 1)] for e in range(epochs)]
    return {"reference_s": stamps["start"][0] - stamps["encoding"][0],
            "epoch_s": [b[0] - a[0] for a, b in zip(ends, ends[1:], strict=False)],
            "epoch_cpu_s": [b[1] - a[1] for a, b in zip(ends, ends[1:], strict=False)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(SMOL), help="converted SmolLM2-135M-Instruct directory "
                    "(python -m training.ml.bundled DIR makes it)")
    ap.add_argument("--pairs", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    from training.ml import common
    from training.ml.bundled import convert

    common.quiet_transformers()
    model_dir = convert(Path(args.model))
    data = write_pairs(Path(tempfile.mkdtemp(prefix="dpo-cache-")) / "snap", args.pairs)
    epochs: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    for r in range(args.repeats):
        for cache in ((False, True) if r % 2 == 0 else (True, False)):
            out = run(model_dir, data, pairs=args.pairs, epochs=args.epochs, cache=cache)
            epochs[cache] += out["epoch_s"]
            cpu[cache] += out["epoch_cpu_s"]
            print(f"cache={'on' if cache else 'off'} reference_s={out['reference_s']:.1f} "
                  f"epoch_s={' '.join(f'{s:.1f}' for s in out['epoch_s'])} "
                  f"epoch_cpu_s={' '.join(f'{s:.1f}' for s in out['epoch_cpu_s'])}", flush=True)
    off, on = statistics.mean(epochs[False]), statistics.mean(epochs[True])
    cpu_off, cpu_on = statistics.mean(cpu[False]), statistics.mean(cpu[True])
    print(f"dpo_cache pairs={args.pairs} epoch_s_off={off:.1f} epoch_s_on={on:.1f} ratio={on / off:.2f} "
          f"epoch_cpu_s_off={cpu_off:.1f} epoch_cpu_s_on={cpu_on:.1f} cpu_ratio={cpu_on / cpu_off:.2f}")


if __name__ == "__main__":
    main()
