"""The web server: granian serving `config.wsgi`, started as `python -m config.server [--host H] [--port P]`
by `make run` (annotate/management/commands/runstack.py), the Dockerfile and docker-compose, and the benches.

Granian's Rust side reads each request whole before a Python thread sees it, so a slow or stalled
client holds a socket, never one of the few threads that run Django (config/tests/test_slow_clients.py);
docs/benchmarks.md compares it with gunicorn and uvicorn. WEB_CONCURRENCY and WEB_THREADS override
the process and thread counts.
"""
from __future__ import annotations

import argparse
import os

from granian import Granian
from granian.constants import Interfaces


def settings() -> dict:
    return {
        # One process per core, at least two: the GIL runs one thread of a process at a time, and
        # a crashed worker leaves the other serving while the master replaces it.
        "workers": int(os.environ.get("WEB_CONCURRENCY", max(2, os.cpu_count() or 1))),
        # A second thread runs Django while the first waits on the database; more only add GIL hand-offs.
        "blocking_threads": int(os.environ.get("WEB_THREADS", 2)),
        # The master replaces a worker that dies (a crash, the OOM killer) instead of serving on with fewer.
        "respawn_failed_workers": True,
        # A stop or restart waits this long (s) for requests in flight, then kills the worker.
        "workers_kill_timeout": 10,
    }


def server(*, host: str = "127.0.0.1", port: int = 8000, access_log: bool = False, **overrides) -> Granian:
    return Granian("config.wsgi:application", interface=Interfaces.WSGI, address=host, port=port,
                   websockets=False, log_access=access_log, **{**settings(), **overrides})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve Ranklab over HTTP with granian.")
    parser.add_argument("--host", default=os.environ.get("RANKLAB_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("RANKLAB_PORT", "8000")))
    parser.add_argument("--workers", type=int, help="default: WEB_CONCURRENCY or one per core (at least 2)")
    parser.add_argument("--threads", type=int, help="Django threads per worker; default: WEB_THREADS or 2")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("workers", args.workers), ("blocking_threads", args.threads)) if v}
    server(host=args.host, port=args.port, access_log=args.access_log, **overrides).serve()


if __name__ == "__main__":
    main()
