"""Running a training/ml program as a subprocess of a Celery worker, for a Job.

The worker writes the job's spec (the trainer's config dataclass as JSON) and launches
`python -m training.ml.<trainer> --config spec.json` — or, with `launcher`, e.g.
`accelerate launch --num_processes 2 -m …` / `torchrun --nproc-per-node 2 -m …` for several
processes or GPUs. The trainer's stdout protocol (training/ml/common.py) is one JSON object per
line: "log" / "eval" events with step, progress and metrics, "checkpoint", and finally "done".
They become the Job's progress, metric series (for the plots) and log tail; the job's message
says the trainer's sub-step, or step i of n with an ETA (training/services/progress.py), every second. Cancel terminates
the process group; the time limit does the same with a clear error. The trainer dies with the
worker (PR_SET_PDEATHSIG), and a rerun with the same output_dir resumes from its newest
checkpoint, so the job kinds that use this are idempotent.
"""
from __future__ import annotations

import ctypes
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.conf import settings

from jobs.services import JobCancelled, JobContext
from training.services.progress import TrainerNarrator

METRIC_POINTS_MAX = 2000
WRITE_EVERY_S = 1.0


class TrainerFailed(RuntimeError):
    pass


def job_run_dir(job) -> Path:
    """A stable directory per job: checkpoints survive a worker crash and a retry resumes. The
    creation time keeps two databases sharing one data directory from sharing runs."""
    path = Path(settings.DATA_DIR) / "runs" / f"job-{job.pk}-{job.created_at:%Y%m%d%H%M%S%f}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _die_with_parent():  # runs in the child between fork and exec
    os.setsid()
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def run_trainer(*, ctx: JobContext, module: str, config: dict, run_dir: Path, time_limit: int | None = None,
                launcher: list[str] | None = None, progress_span: tuple[float, float] = (0.0, 1.0)) -> dict:
    """Run the trainer to completion; returns its "done" event ({"metrics", "model_dir", …}).

    progress_span maps the trainer's 0..1 progress into a part of the job's progress bar."""
    spec = run_dir / "spec.json"
    spec.write_text(json.dumps(config, indent=1, default=str))
    launcher = launcher or shlex.split(settings.TRAINER_LAUNCHER) or [sys.executable, "-m"]
    argv = launcher + [module, "--config", str(spec)]
    ctx.log("$ " + " ".join(argv))
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    stderr_path = run_dir / "stderr.log"
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=open(stderr_path, "ab"), text=True, env=env,
                            cwd=settings.BASE_DIR, preexec_fn=_die_with_parent)
    state = {"done": None, "error": "", "series": dict(ctx.job.metrics.get("series", {})), "latest": {}, "progress": None,
             "dirty": False, "lines": [], "resumed": {}}
    lock = threading.Lock()
    lo, hi = progress_span
    narrator = TrainerNarrator()

    def read():
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                with lock:
                    state["lines"].append(line.rstrip())
                continue
            if not isinstance(event, dict):
                continue
            with lock:
                kind = event.get("event", "log")
                narrator.event(event)
                if kind == "done":
                    state["done"] = event
                elif kind in ("log", "eval"):
                    step = event.get("step")
                    for key, value in event.items():
                        if key in ("event", "step", "progress") or not isinstance(value, (int, float)):
                            continue
                        name = f"eval_{key}" if kind == "eval" and not key.startswith("eval") else key
                        points = state["series"].setdefault(name, [])
                        points.append([step, value])
                        del points[:-METRIC_POINTS_MAX]
                        state["latest"][name] = value
                    if "progress" in event:
                        state["progress"] = lo + (hi - lo) * float(event["progress"])
                    state["dirty"] = True
                elif kind == "error":
                    state["error"] = str(event.get("error", ""))
                elif kind == "start":
                    details = ", ".join(f"{k}={v}" for k, v in event.items() if k != "event")
                    state["lines"].append(f"trainer started: {details}")
                    # Kept in the metrics too (0 when this attempt started afresh): a long run's later lines
                    # push this one out of the log tail.
                    step = event.get("resumed_from_step")
                    state["resumed"] = {"resumed_from_step": step if isinstance(step, int) else 0}
                    state["dirty"] = True
                elif kind == "phase":
                    # The message shows the latest sub-step each second; the log keeps every one.
                    state["lines"].append(str(event.get("message") or ""))
                elif kind == "checkpoint":
                    state["lines"].append(f"checkpoint at step {event.get('step')}: {event.get('path')}")

    def flush(check: bool = True) -> None:
        with lock:
            lines, state["lines"] = state["lines"], []
            dirty, state["dirty"] = state["dirty"], False
            metrics = {**ctx.job.metrics, **state["resumed"], "series": state["series"], "latest": state["latest"]}
            progress = state["progress"]
            message = narrator.message()
        for line in lines:
            ctx.log(line)
        if dirty:
            ctx.set_metrics(metrics)
        if not check:
            return
        ctx.progress(lo if progress is None else progress, message)  # raises JobCancelled

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started = time.monotonic()
    last_write = 0.0
    try:
        while proc.poll() is None:
            now = time.monotonic()
            if now - last_write >= WRITE_EVERY_S:
                last_write = now
                flush()
            if time_limit and now - started > time_limit:
                _kill(proc)
                raise TrainerFailed(
                    f"Stopped after the time limit of {time_limit} s. Checkpoints are kept; retry to resume."
                )
            time.sleep(0.2)
    except JobCancelled:
        _kill(proc)
        raise
    finally:
        if proc.poll() is None:
            _kill(proc)
        reader.join(timeout=10)
        flush(check=False)  # whatever the trainer printed last
    if proc.returncode != 0 or state["done"] is None:
        tail = stderr_path.read_text(errors="replace")[-3000:] if stderr_path.exists() else ""
        ctx.log(tail)
        last = [ln for ln in tail.splitlines() if ln.strip()][-1:] or ["no output"]
        raise TrainerFailed(f"The trainer exited with code {proc.returncode}: {state['error'] or last[0]}")
    return state["done"]
