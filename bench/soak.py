"""Soak: labelers keep working through the API while the stack is hurt, and nothing is lost.

    .venv/bin/python bench/soak.py [--labelers 64] [--duration 150] [--every 15] [--think 1]
        [--db postgres://postgres@127.0.0.1:5432/rl_q_soak] [--redis-port 16391]

The stack is `make run`'s: `manage.py runstack` (web: granian, config/server.py; a Celery worker;
beat), which starts again whatever exits, here on PostgreSQL (its own database, --db) and on a
Redis this bench starts on its own port (--redis-port; never the machine's). N labelers, each on
its own connection with the retries of bench/labeler_load.py's client (a connection error or a
5xx is retried after a pause, the same answer again), loop next-task → think → submit on a
project with overlap 1. Every --every seconds the bench injects the next fault, in turn:

    web-worker   SIGKILL one of the web server's worker processes (its master starts another)
    web-master   SIGKILL the web server's master (runstack starts the server again)
    celery       SIGKILL the Celery worker (runstack starts it again)
    redis        SIGKILL Redis; the bench starts it again 2 s later
    database     pg_terminate_backend() on every connection to the bench's database

and times the recovery: until the killed process is replaced (a web server with all its workers,
a Celery worker), the API answers (a probe labeler reads its progress) and, after the Celery and
Redis faults, a Celery worker answers a ping over the broker. At the end it
checks the database: lost = submissions acknowledged with 201 but absent; duplicates = tasks
handed to more than one labeler or holding more than one ranking. Last line:

    soak labelers=… acked=… lost=0 duplicates=0 errors_5xx=… recovered_s=…

(recovered_s: the slowest recovery of any fault). It stops what it started.
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import labeler_load as load  # noqa: E402 - the bench's own client, data and checks

ROOT = load.ROOT
FAULTS = ("web-worker", "web-master", "celery", "redis", "database")


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class Stack:
    """runstack and the Redis it talks to."""

    def __init__(self, args, data_dir: Path):
        self.args, self.data_dir = args, data_dir
        self.port = load.free_port()
        self.redis_url = f"redis://127.0.0.1:{args.redis_port}/0"
        self.env = {**os.environ, "DATABASE_URL": args.db, "REDIS_URL": self.redis_url,
                    "RANKLAB_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "config.settings.local",
                    "DJANGO_DEBUG": "0", "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
        self.redis = self.runstack = None

    def start_redis(self) -> None:
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.args.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.data_dir)],
            stdout=open(self.data_dir / "redis.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True)

    def start(self) -> None:
        self.start_redis()
        self.runstack = subprocess.Popen(
            [sys.executable, "manage.py", "runstack", "--port", str(self.port)], cwd=ROOT, env=self.env,
            stdout=open(self.data_dir / "runstack.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)

    def web(self) -> int | None:
        return next((p for p in _children(self.runstack.pid) if "config.server" in _cmdline(p)), None)

    def celery(self) -> int | None:
        return next((p for p in _children(self.runstack.pid) if " worker " in _cmdline(p)), None)

    def stop(self) -> None:
        for proc in (self.runstack, self.redis):
            if proc is None or proc.poll() is not None:
                continue
            os.killpg(proc.pid, signal.SIGINT if proc is self.runstack else signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def inject(stack: Stack, fault: str) -> tuple[str, callable]:
    """Do `fault` to the stack: what was done, and a test that the hurt part is whole again (a
    new process in place of the killed one, with its workers)."""
    web = stack.web()
    workers = _children(web or 0)
    if fault == "web-worker":
        victim = random.choice(workers)
        os.kill(victim, signal.SIGKILL)
        return f"killed web worker {victim}", lambda: len(set(_children(web)) - {victim}) == len(workers)
    if fault == "web-master":
        os.kill(web, signal.SIGKILL)
        return f"killed web master {web}", lambda: stack.web() not in (None, web) and len(
            _children(stack.web())) == len(workers)
    if fault == "celery":
        worker = stack.celery()
        os.kill(worker, signal.SIGKILL)
        return f"killed celery worker {worker}", lambda: stack.celery() not in (None, worker)
    if fault == "redis":
        os.kill(stack.redis.pid, signal.SIGKILL)
        stack.redis.wait()
        time.sleep(2)
        stack.start_redis()
        return "killed redis, started it again after 2 s", lambda: True
    import psycopg

    name = urlsplit(stack.args.db).path.lstrip("/")
    with psycopg.connect(stack.args.db, autocommit=True) as conn:
        n = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                         " WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchone()[0]
    return f"terminated {n} database connections", lambda: True


def recovered(stack: Stack, probe: load.Client, project_id: int, needs_celery: bool) -> bool:
    try:
        status, _ = probe.get(f"/api/projects/{project_id}/progress/")
    except Exception:  # noqa: BLE001 - not answering yet
        return False
    if status != 200:
        return False
    if not needs_celery:
        return True
    from config.celery_app import app

    try:
        return bool(app.control.ping(timeout=1.0))
    except Exception:  # noqa: BLE001 - the broker is still down
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labelers", type=int, default=64)
    ap.add_argument("--duration", type=float, default=150.0)
    ap.add_argument("--every", type=float, default=15.0, help="seconds between faults")
    ap.add_argument("--think", type=float, default=1.0, help="mean think time between answers, seconds")
    ap.add_argument("--tasks", type=int, default=12000)
    ap.add_argument("--db", default=os.environ.get("SOAK_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rl_q_soak"))
    ap.add_argument("--redis-port", type=int, default=16391)
    ap.add_argument("--data-dir", default="/tmp/rl-q-soak")
    args = ap.parse_args()
    if args.redis_port == 6379:
        raise SystemExit("the bench kills its Redis: give it a port of its own, not 6379")
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)

    load.ensure_database(args.db)
    os.environ.update(REDIS_URL=f"redis://127.0.0.1:{args.redis_port}/0")
    os.environ.update(DATABASE_URL=args.db, RANKLAB_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="config.settings.local")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    users = load.make_users(args.labelers + 1)
    probe_user, probe_token = users[-1]
    project_id = load.seed_project(f"soak-{int(time.time())}", load.make_dataset(args.tasks, 7), [u for u, _ in users])
    connection.close()  # the database fault would break it; the checks at the end open a new one

    stack = Stack(args, data_dir)
    stack.start()
    print(f"# soak: {args.labelers} labelers, think {args.think:g} s, {args.duration:g} s, a fault every "
          f"{args.every:g} s, stack `manage.py runstack` on http://127.0.0.1:{stack.port}/, PostgreSQL "
          f"{urlsplit(args.db).path.lstrip('/')}, Redis :{args.redis_port}; load average "
          f"{Path('/proc/loadavg').read_text().split()[:3]}", flush=True)
    probe = load.Client("127.0.0.1", stack.port, probe_token, timeout=5, retry_for=0)
    deadline = time.monotonic() + 120
    while not recovered(stack, probe, project_id, needs_celery=True):
        if time.monotonic() > deadline or stack.runstack.poll() is not None:
            stack.stop()
            raise SystemExit(f"the stack did not come up; see {data_dir}/runstack.log")
        time.sleep(0.5)

    handed = defaultdict(set)
    acked: list[int] = []
    errors: list[str] = []
    gave_up: list[str] = []
    lock = threading.Lock()
    stop = [time.perf_counter() + args.duration]

    def labeler(index: int, token: str):
        client = load.Client("127.0.0.1", stack.port, token, timeout=30, retry_for=600)
        rng = random.Random(index)
        mine_acked, mine_errors, mine_tasks = [], [], []
        try:
            while time.perf_counter() < stop[0]:
                status, body = load.call(client, f"/api/projects/{project_id}/assignments/next/", None, 200,
                                         mine_errors, stop, "next")
                if status != 200 or body.get("assignment") is None:
                    mine_errors.append(f"next {status} {str(body)[:200]}")
                    time.sleep(1)
                    continue
                assignment = body["assignment"]
                mine_tasks.append(assignment["task"])
                ids = [c["id"] for c in assignment["candidates"]]
                rng.shuffle(ids)
                time.sleep(rng.uniform(0.5 * args.think, 1.5 * args.think))
                status, body = load.call(client, f"/api/assignments/{assignment['id']}/ranking/",
                                         {"tiers": [[i] for i in ids], "time_on_task_ms": 1000}, 201, mine_errors,
                                         stop, "submit")
                if status == 201:
                    mine_acked.append(body["id"])
                else:
                    mine_errors.append(f"submit {status} {str(body)[:200]}")
        except Exception as exc:  # noqa: BLE001 - reported below
            gave_up.append(f"labeler {index}: {exc!r}")
        finally:
            client.close()
            with lock:
                acked.extend(mine_acked)
                errors.extend(mine_errors)
                for task in mine_tasks:
                    handed[task].add(index)

    threads = [threading.Thread(target=labeler, args=(i, t), daemon=True) for i, (_, t) in enumerate(users[:-1])]
    for t in threads:
        t.start()
    recoveries = []
    start = time.perf_counter()
    try:
        for n in range(int(args.duration // args.every)):
            time.sleep(max(0.0, start + (n + 1) * args.every - args.every / 2 - time.perf_counter()))
            fault = FAULTS[n % len(FAULTS)]
            t0 = time.perf_counter()
            what, whole = inject(stack, fault)
            needs_celery = fault in ("celery", "redis")
            while not (whole() and recovered(stack, probe, project_id, needs_celery)):
                if stack.runstack.poll() is not None:
                    raise SystemExit(f"runstack exited; see {data_dir}/runstack.log")
                time.sleep(0.1)
            seconds = time.perf_counter() - t0
            recoveries.append((fault, seconds))
            print(f"# t={t0 - start:6.1f} s  {fault:<10}  {what}; recovered in {seconds:.1f} s", flush=True)
        for t in threads:
            t.join(timeout=max(1.0, stop[0] - time.perf_counter() + 120))
    finally:
        stack.stop()
    from django.db import connection as db

    db.close()
    dup, lost, stored = load.check_database(project_id, acked, handed)
    errors_5xx = sum(1 for e in errors if e.split(" ", 2)[1].startswith("5"))
    print(f"# {len(acked)} submissions acknowledged, {stored} stored; {len(errors)} errored answers "
          f"({errors_5xx} 5xx), first: {errors[0] if errors else '-'}; labelers that gave up: {len(gave_up)} "
          f"{gave_up[:2]}; recoveries: " + ", ".join(f"{f} {s:.1f} s" for f, s in recoveries), flush=True)
    print(f"# load average after: {Path('/proc/loadavg').read_text().split()[:3]}")
    print(f"soak labelers={args.labelers} acked={len(acked)} lost={lost} duplicates={dup} errors_5xx={errors_5xx} "
          f"recovered_s={max((s for _, s in recoveries), default=0):.1f}")


if __name__ == "__main__":
    main()
