"""The real Celery worker the end-to-end benches (round_demo.py, loop_bench.py) run the product's jobs on."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def worker_start(data_dir: Path) -> subprocess.Popen:
    """One worker (solo pool, every queue) in its own process group, logging to data_dir/worker.log.
    A SIGTERM to the bench exits it through its `finally`, which stops the worker (worker_stop)."""
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-Q",
                               "default,exports,generation,training", "--without-gossip", "--without-mingle",
                               "--loglevel", "INFO"], cwd=ROOT, env=dict(os.environ),
                              stdout=open(data_dir / "worker.log", "wb"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return worker


def worker_stop(worker: subprocess.Popen) -> None:
    os.killpg(worker.pid, signal.SIGKILL)  # its trainer subprocess dies with it (PDEATHSIG)
    worker.wait(timeout=30)
