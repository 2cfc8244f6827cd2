"""Labelers under load: next-task + submit over HTTP, against the app's server on PostgreSQL.

    .venv/bin/python bench/labeler_load.py [--concurrency 1,8,32] [--duration 20] [--warmup 3]
        [--tasks 16000] [--db postgres://postgres@127.0.0.1:5432/rl_q_bench]
        [--server granian|gunicorn|uvicorn] [--workers 2 --threads 2]
        [--url http://127.0.0.1:8000]   # point it at a server you started yourself
        [--combined]   # one call per cycle: POST /api/assignments/{id}/ranking-and-next/
    .venv/bin/python bench/labeler_load.py --labelers 1000 --think 20 [--duration 120]
    .venv/bin/python bench/labeler_load.py --in-process 400 [--profile]   # app CPU per cycle, no server

Two shapes. Without --labelers, the shape of the Label Studio harness in ../shared/bench/labelstudio
(same data generator when it is there: a ~200-character prompt and 4 responses of ~400 characters;
overlap 1; one user per client; no think time; each level on a fresh project of --tasks tasks,
analysed as autovacuum would): per level C, C clients each loop for --warmup seconds (not timed:
fresh server processes connect and prepare their statements) and then --duration seconds over

    POST /api/projects/{id}/assignments/next/      (the workspace's next-task call)
    POST /api/assignments/{id}/ranking/            (a random order of the 4 candidates)

With --labelers N --think S, the realistic level: N labelers, each on its own keep-alive
connection, arrive spread over the first S seconds and then loop next → think → submit, thinking
a random 0.5-1.5 x S seconds while they read and rank; calls are timed after --warmup (default:
1.5 x S, once every labeler has arrived). Every client retries as a browser and its user would:
a request on a connection the server has closed is sent again on a new one, and a connection
error or a 5xx answer is retried after a pause (the same answer again: submitting is idempotent),
so a fault costs time and an error count, never the labeler.

The bench prints cycles/s, p50/p99 of each call, errors, duplicate assignments (a task handed to
more than one client, or holding more rankings than its overlap) and lost submissions
(acknowledged with 201 but absent from the database). The floor is the same cycle as bare SQL
over psycopg at the same concurrency (pick with FOR UPDATE SKIP LOCKED, count the lease, insert
the assignment; then insert the ranking and close the lease): what the database alone allows
on this machine. Each level also reports the CPU time spent per cycle by the app server, the
PostgreSQL backends and the client (from /proc): unlike cycles/s, that cost does not depend on
how the processes share the cores; and the cycles completed in each second (min, median, max),
which show how steady the machine was. The last line:

    labeler_load C=32 cycles_per_s=… p99_ms=… duplicates=0 lost=0 floor_cycles_per_s=…
    labeler_load_think labelers=1000 cycles_per_s=… p99_ms=… duplicates=0 lost=0

It creates the database named in --db if missing (default rl_q_bench, so nothing is shared with
other runs), migrates it, and starts the server on a free loopback port: by default the app's own
(`python -m config.server`, config/server.py); `--server gunicorn` (stock gthread) and
`--server uvicorn` (Django's ASGI handler) are there to compare. It stops what it started.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LS_DIR = ROOT.parent / "shared" / "bench" / "labelstudio"


# --- data -----------------------------------------------------------------------------------

def make_dataset(n: int, seed: int) -> list[dict]:
    """Label Studio's generator when available (identical texts), else a local equivalent."""
    try:
        sys.path.insert(0, str(LS_DIR))
        from bench_ls import make_dataset as ls_make_dataset

        return ls_make_dataset(n, seed)
    except Exception:  # noqa: BLE001 - the shared folder is optional
        rng = random.Random(seed)
        words = "the model answer prompt reason step data result value user assistant rank quality".split()

        def text(k):
            return " ".join(rng.choice(words) for _ in range(k // 6))[:k]

        return [{"prompt": text(200), "responses": [text(400) for _ in range(4)]} for _ in range(n)]


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def django_setup(db_url: str, data_dir: str) -> None:
    os.environ["DATABASE_URL"] = db_url
    os.environ["RANKLAB_DATA_DIR"] = data_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed_project(name: str, records: list[dict], users: list) -> int:
    """A ranking project with overlap 1 and one task per record, written in bulk (the services
    are exercised by the HTTP calls, not by the setup)."""
    from annotate.models import (
        Candidate,
        Membership,
        Project,
        Prompt,
        Task,
        TaskCandidate,
        conversation_hash,
        split_bucket,
    )

    project = Project.objects.create(name=name, task_kinds=["ranking"], k=4, submissions_required=1, gold_rate=0)
    prompts = []
    for rec in records:
        conv = [{"role": "user", "content": rec["prompt"] + f" [{name} {len(prompts)}]"}]
        h = conversation_hash(conv)
        prompts.append(Prompt(project=project, conversation=conv, content_hash=h, split_key=split_bucket(h),
                              source="bench"))
    prompts = Prompt.objects.bulk_create(prompts)
    cands = Candidate.objects.bulk_create([Candidate(prompt=p, text=t, source="bench")
                                           for p, rec in zip(prompts, records, strict=True) for t in rec["responses"]])
    tasks = Task.objects.bulk_create([Task(project=project, prompt=p, kind="ranking", submissions_required=1)
                                      for p in prompts])
    TaskCandidate.objects.bulk_create([TaskCandidate(task=t, candidate=cands[4 * i + j], position=j)
                                       for i, t in enumerate(tasks) for j in range(4)])
    Membership.objects.bulk_create([Membership(project=project, user=u, role="labeler") for u in users])
    # Planner statistics, as autovacuum would have them within a minute of a bulk import:
    # without them PostgreSQL may scan a labeler's whole history for every pick.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotate_task, annotate_assignment, annotate_prompt, annotate_taskcandidate,"
                       " annotate_candidate, annotate_ranking, labelers_membership")
    return project.pk


def make_users(n: int) -> list[tuple]:
    """n labeler accounts (kept between runs) with fresh API tokens, created in bulk: hashing a
    password per account would take minutes for 1,000."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group
    from knox.models import AuthToken, get_digest_token
    from knox.settings import CONSTANTS

    from labelers.services.accounts import roles_ensure

    User = get_user_model()
    names = [f"bench-labeler-{i}" for i in range(n)]
    have = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    missing = [name for name in names if name not in have]
    if missing:
        roles_ensure()
        password = make_password("bench-pw-123456")
        created = User.objects.bulk_create([User(username=name, password=password) for name in missing])
        group = Group.objects.get(name="labeler")
        User.groups.through.objects.bulk_create([User.groups.through(user_id=u.pk, group_id=group.pk) for u in created])
    users = {u.username: u for u in User.objects.filter(username__in=names)}
    # Tokens are stored as digests, so a run cannot reuse the last run's: it replaces them.
    AuthToken.objects.filter(user__in=users.values()).delete()
    rows, tokens = [], {}
    for user in users.values():
        digest, token = get_digest_token()
        rows.append(AuthToken(digest=digest, token_key=token[:CONSTANTS.TOKEN_KEY_LENGTH], user=user, expiry=None))
        tokens[user.pk] = token
    AuthToken.objects.bulk_create(rows)
    return [(users[name], tokens[users[name].pk]) for name in names]


# --- server ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(kind: str, port: int, workers: int, threads: int) -> list[str]:
    venv = ROOT / ".venv" / "bin"
    if kind == "gunicorn":
        return [str(venv / "gunicorn"), "config.wsgi:application", "--worker-class", "gthread", "--bind",
                f"127.0.0.1:{port}", "--workers", str(workers or 2), "--threads", str(threads or 2),
                "--keep-alive", "30", "--log-level", "warning"]
    if kind == "uvicorn":
        return [str(venv / "uvicorn"), "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(workers or 2), "--log-level", "warning", "--no-access-log"]
    return [sys.executable, "-m", "config.server", "--port", str(port),
            *(["--workers", str(workers)] if workers else []), *(["--threads", str(threads)] if threads else [])]


def start_server(kind: str, db_url: str, data_dir: str, port: int, workers: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": db_url, "RANKLAB_DATA_DIR": data_dir,
           "DJANGO_SETTINGS_MODULE": "config.settings.local", "DJANGO_DEBUG": "0", "DB_CONN_MAX_AGE": "600",
           "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    env.pop("REDIS_URL", None)
    if kind == "uvicorn":
        env["DB_CONN_MAX_AGE"] = "0"  # Django under ASGI opens a connection per request thread
    proc = subprocess.Popen(server_command(kind, port, workers, threads), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(Path(data_dir) / "server.log", "w"),
                            start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/accounts/login/")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    stop_server(proc)
    raise SystemExit(f"{kind} did not answer on port {port}; see {data_dir}/server.log")


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (master and workers), then SIGKILL if it lingers."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


# --- CPU accounting: contention-independent cost per cycle ----------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0.0


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return out


def cpu_snapshot(server_pid: int | None, db_url: str) -> dict:
    """CPU seconds used so far by the app server (master + workers), by the PostgreSQL backends
    connected to the bench database (when PostgreSQL runs on this machine) and by this client."""
    import resource

    import psycopg

    app = sum(_proc_cpu(p) for p in [server_pid, *_children(server_pid)]) if server_pid else 0.0
    name = urlsplit(db_url).path.lstrip("/")
    with psycopg.connect(db_url, autocommit=True) as conn:
        pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))]
    db = {p: _proc_cpu(p) for p in pids}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"app": app, "db": db, "client": usage.ru_utime + usage.ru_stime}


def cpu_delta(before: dict, after: dict) -> dict:
    db = sum(v - before["db"].get(p, 0.0) for p, v in after["db"].items())
    return {"app": after["app"] - before["app"], "db": db, "client": after["client"] - before["client"]}


# --- the HTTP labelers ----------------------------------------------------------------------

class Client:
    """One labeler's keep-alive HTTP/1.1 connection, spoken over a plain socket: the requests are
    formatted directly and a response is read by its Content-Length (or chunks). The clients share
    the cores with the server, and http.client, which parses every response's headers with the
    email package, costs measurably more CPU per cycle.

    Like a browser, a request that meets a kept-alive connection the server has closed is sent
    again on a new connection at once; like its user, any other connection error is retried on a
    new connection after a growing pause (0.1 s to 2 s), for up to `retry_for` seconds."""

    def __init__(self, host: str, port: int, token: str, timeout: float = 30.0, retry_for: float = 300.0):
        self.addr = (host, port)
        self.head = (f"Host: {host}:{port}\r\nAuthorization: Token {token}\r\n"
                     "Content-Type: application/json\r\nAccept: application/json\r\n").encode()
        self.timeout, self.retry_for = timeout, retry_for
        self.sock = None
        self.buf = b""
        self.connection_errors = 0  # retried connection errors (a reused connection found closed not counted)
        self.last_error = ""

    def _connect(self):
        self.sock = socket.create_connection(self.addr, timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            self._more()
        line, self.buf = self.buf[:end], self.buf[end + 2:]
        return line

    def _exchange(self, request: bytes) -> tuple[int, bytes]:
        self.sock.sendall(request)
        status = int(self._line().split(b" ", 2)[1])
        headers = {}
        while line := self._line():
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if b"content-length" in headers:
            body = self._read(int(headers[b"content-length"]))
        elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            parts = []
            while size := int(self._line().split(b";")[0], 16):
                parts.append(self._read(size))
                self._read(2)
            while self._line():  # trailers
                pass
            body = b"".join(parts)
        else:
            raise http.client.HTTPException(f"response {status} without a length")
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return status, body

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None

    def post(self, path: str, body: dict | None = None) -> tuple[int, dict]:
        return self.request("POST", path, body or {})

    def get(self, path: str) -> tuple[int, dict]:
        return self.request("GET", path)

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        """(status, JSON body) of `method` `path`; a body that is not JSON (a proxy's or the
        server's own error page) comes back as {"detail": its first 200 bytes}."""
        data = b"" if body is None else json.dumps(body).encode()
        request = b"%s %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s" % (
            method.encode(), path.encode(), self.head, len(data), data)
        deadline = time.monotonic() + self.retry_for
        pause = 0.1
        while True:
            reused = self.sock is not None
            try:
                if not reused:
                    self._connect()
                status, raw = self._exchange(request)
            except (OSError, http.client.HTTPException, ValueError, IndexError) as exc:
                self.close()
                if reused and isinstance(exc, (ConnectionError, http.client.HTTPException)) and not self.buf:
                    continue  # the server closed an idle kept-alive connection: send it again, as browsers do
                self.connection_errors += 1
                self.last_error = repr(exc)
                if time.monotonic() > deadline:
                    raise
                time.sleep(pause)
                pause = min(2.0, pause * 2)
                continue
            try:
                return status, json.loads(raw or b"{}")
            except ValueError:
                return status, {"detail": raw[:200].decode("utf-8", "replace")}


def call(client: Client, path: str, body: dict | None, ok: int, errors: list[str], stop: list[float],
         what: str) -> tuple[int, dict]:
    """POST until the answer is `ok` or a 4xx: a 5xx is retried after a pause, as a labeler
    would click again (the request is idempotent). Errors are counted in `errors`."""
    pause = 0.2
    while True:
        status, answer = client.post(path, body)
        if status == ok or status < 500 or time.perf_counter() > stop[0] + 60:
            return status, answer
        errors.append(f"{what} {status} {str(answer)[:200]}")
        time.sleep(pause)
        pause = min(2.0, pause * 2)


def run_level(url: str, project_id: int, tokens: list[str], duration: float, warmup: float,
              combined: bool = False, think: float = 0.0) -> dict:
    """Clients loop for warmup + duration seconds; only calls started after the warm-up are
    timed and counted (every acknowledged submission is checked for duplicates and losses).
    With `think`, each labeler arrives at a random moment of the first `think` seconds and waits
    a random 0.5-1.5 x `think` seconds between its next-task call and its submission."""
    parts = urlsplit(url)
    c = len(tokens)
    lat_next, lat_submit = [], []
    handed = defaultdict(set)  # task -> clients
    acked: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(c + 1)
    stop = [0.0]
    measure_from = [0.0]
    ran_out = []
    counted = []
    connection_errors = []
    ends: list[float] = []  # when each counted cycle's submission was acknowledged

    def labeler(index: int, token: str):
        client = Client(parts.hostname, parts.port, token)
        rng = random.Random(index)
        my_next, my_submit, my_acked, my_tasks, my_errors, my_ends = [], [], [], [], [], []
        my_counted = 0
        barrier.wait()
        if think and stop_wait(rng.uniform(0, think), stop):
            return
        assignment = None  # with --combined, the next task comes with the previous submission
        try:
            while time.perf_counter() < stop[0]:
                t0 = time.perf_counter()
                timed = t0 >= measure_from[0]
                if assignment is None:
                    status, body = call(client, f"/api/projects/{project_id}/assignments/next/", None, 200,
                                        my_errors, stop, "next")
                    t1 = time.perf_counter()
                    if timed:
                        my_next.append(t1 - t0)
                    if status != 200:
                        my_errors.append(f"next {status} {str(body)[:200]}")
                        continue
                    assignment = body.get("assignment")
                    if assignment is None:
                        ran_out.append(index)
                        break  # no work left
                my_tasks.append(assignment["task"])
                ids = [cand["id"] for cand in assignment["candidates"]]
                rng.shuffle(ids)
                if think and stop_wait(rng.uniform(0.5 * think, 1.5 * think), stop):
                    break
                t2 = time.perf_counter()
                timed = t2 >= measure_from[0] if combined or think else timed
                path = "ranking-and-next" if combined else "ranking"
                status, body = call(client, f"/api/assignments/{assignment['id']}/{path}/",
                                    {"tiers": [[i] for i in ids], "time_on_task_ms": 1000}, 201, my_errors, stop,
                                    "submit")
                if timed:
                    my_submit.append(time.perf_counter() - t2)
                if status == 201:
                    my_acked.append(body["ranking"]["id"] if combined else body["id"])
                    my_counted += timed
                    if timed:
                        my_ends.append(time.perf_counter())
                else:
                    my_errors.append(f"submit {status} {str(body)[:200]}")
                assignment = body["next"]["assignment"] if combined and status == 201 else None
                if combined and status == 201 and assignment is None:
                    ran_out.append(index)
                    break
        except Exception as exc:  # noqa: BLE001 - a client that gives up is reported, not fatal to the run
            my_errors.append(f"client gave up: {exc!r}")
        finally:
            client.close()
            with lock:
                lat_next.extend(my_next)
                lat_submit.extend(my_submit)
                acked.extend(my_acked)
                counted.append(my_counted)
                ends.extend(my_ends)
                errors.extend(my_errors)
                connection_errors.append(client.connection_errors)
                for task in my_tasks:
                    handed[task].add(index)

    threading.stack_size(512 * 1024)  # a thousand labelers: small stacks
    threads = [threading.Thread(target=labeler, args=(i, t), daemon=True) for i, t in enumerate(tokens)]
    for t in threads:
        t.start()
    measure_from[0] = time.perf_counter() + warmup
    stop[0] = measure_from[0] + duration
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - measure_from[0]
    if ran_out:
        print(f"# warning: {len(ran_out)} clients ran out of tasks before the end; raise --tasks", flush=True)
    # Cycles completed in each whole second of the timed part: how steady the machine was.
    per_second = Counter(int(t - measure_from[0]) for t in ends)
    per_second = [per_second.get(i, 0) for i in range(int(duration))]
    return {"elapsed": min(elapsed, duration) if think else elapsed, "next": lat_next, "submit": lat_submit,
            "acked": acked, "errors": errors, "counted": sum(counted), "per_second": per_second,
            "handed": handed, "connection_errors": sum(connection_errors)}


def stop_wait(seconds: float, stop: list[float]) -> bool:
    """Sleep `seconds`, or until the run's end; True if the run ended first."""
    end = min(time.perf_counter() + seconds, stop[0])
    while (left := end - time.perf_counter()) > 0:
        time.sleep(min(left, 1.0))
    return time.perf_counter() >= stop[0]


def check_database(project_id: int, acked: list[int], handed: dict) -> tuple[int, int, int]:
    """(duplicate assignments, lost submissions, rankings stored) for one level."""
    from annotate.models import Ranking

    rows = list(Ranking.objects.filter(task__project_id=project_id).values_list("pk", "task_id"))
    per_task = Counter(task for _, task in rows)
    over = {t for t, n in per_task.items() if n > 1}
    to_many = {t for t, clients in handed.items() if len(clients) > 1}
    lost = len(set(acked) - {pk for pk, _ in rows})
    return len(over | to_many), lost, len(rows)


# --- the floor: bare SQL over psycopg -----------------------------------------------------------

PICK = """
SELECT t.id FROM annotate_task t
WHERE t.project_id = %(p)s AND t.state = 'open' AND NOT t.is_gold
  AND t.submissions_required > t.submissions_count + t.active_leases
  AND NOT EXISTS (SELECT 1 FROM annotate_assignment a WHERE a.task_id = t.id AND a.labeler_id = %(u)s
                  AND a.state IN ('active', 'submitted', 'skipped'))
ORDER BY t.priority DESC, t.submissions_count DESC, t.id
LIMIT 1 FOR UPDATE OF t SKIP LOCKED"""


def run_floor(db_url: str, project_id: int, user_ids: list[int], duration: float) -> dict:
    import psycopg

    done = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(user_ids) + 1)
    stop = [0.0]

    def worker(uid: int):
        n = 0
        rng = random.Random(uid)
        with psycopg.connect(db_url) as conn:
            barrier.wait()
            while time.perf_counter() < stop[0]:
                with conn.transaction():
                    row = conn.execute(PICK, {"p": project_id, "u": uid}).fetchone()
                    if row is None:
                        break
                    task_id = row[0]
                    conn.execute("UPDATE annotate_task SET active_leases = active_leases + 1 WHERE id = %s", (task_id,))
                    cands = [r[0] for r in conn.execute(
                        "SELECT candidate_id FROM annotate_taskcandidate WHERE task_id = %s ORDER BY position",
                        (task_id,))]
                    rng.shuffle(cands)
                    aid = conn.execute(
                        "INSERT INTO annotate_assignment (task_id, labeler_id, project_id, state, leased_at, expires_at,"
                        " skip_reason, shown_order) VALUES (%s, %s, %s, 'active', now(), now() + interval '30 min',"
                        " '', %s) RETURNING id", (task_id, uid, project_id, json.dumps(cands))).fetchone()[0]
                with conn.transaction():
                    conn.execute("SELECT id FROM annotate_task WHERE id = %s FOR UPDATE", (task_id,))
                    conn.execute("SELECT id FROM annotate_assignment WHERE id = %s FOR UPDATE", (aid,))
                    conn.execute(
                        "INSERT INTO annotate_ranking (task_id, assignment_id, labeler_id, source, time_on_task_ms,"
                        " created_at, review_status, review_comment, outcome, tiers, ratings, flags, cant_judge_reason,"
                        " preference_strength, rationale, shown_order) VALUES (%s, %s, %s, 'labeler', 1000, now(),"
                        " 'pending', '', 'ranked', %s, '{}', '{}', '', '', '', %s)",
                        (task_id, aid, uid, json.dumps([[c] for c in cands]), json.dumps(cands)))
                    conn.execute("UPDATE annotate_assignment SET state = 'submitted', finished_at = now() WHERE id = %s",
                                 (aid,))
                    conn.execute("UPDATE annotate_task SET active_leases = active_leases - 1,"
                                 " submissions_count = submissions_count + 1, state = CASE WHEN submissions_count + 1"
                                 " >= submissions_required THEN 'complete' ELSE state END WHERE id = %s", (task_id,))
                n += 1
        with lock:
            done.append(n)

    threads = [threading.Thread(target=worker, args=(u,)) for u in user_ids]
    for t in threads:
        t.start()
    stop[0] = time.perf_counter() + duration
    start = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {"cycles": sum(done), "elapsed": elapsed}


# --- main -----------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return 1000 * values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def in_process(cycles: int, *, profile: bool, seed: int) -> None:
    """Next + submit through the WSGI app called directly (no server, no sockets), with the
    app's own middleware, token authentication, serializers and PostgreSQL."""
    import cProfile
    import io
    import pstats

    from config.wsgi import application

    (user, token), = make_users(1)
    pid = seed_project(f"in-process {time.time():.0f}", make_dataset(cycles + 50, seed), [user])

    def call(path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else b""
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
                   "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http", "REMOTE_ADDR": "127.0.0.1",
                   "wsgi.input": io.BytesIO(data), "CONTENT_LENGTH": str(len(data)),
                   "CONTENT_TYPE": "application/json", "HTTP_AUTHORIZATION": f"Token {token}"}
        status = []
        out = b"".join(application(environ, lambda s, h, *a: status.append(s)))
        if status[0][:1] != "2":
            raise SystemExit(f"{path}: {status[0]} {out[:300]!r}")
        return json.loads(out)

    rng = random.Random(seed)

    def cycle():
        a = call(f"/api/projects/{pid}/assignments/next/")["assignment"]
        ids = [c["id"] for c in a["candidates"]]
        rng.shuffle(ids)
        call(f"/api/assignments/{a['id']}/ranking/", {"tiers": [[i] for i in ids], "time_on_task_ms": 1000})

    for _ in range(min(20, cycles)):  # prepared statements and caches, as a warm server has them
        cycle()
    n = cycles - min(20, cycles)
    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    cpu = time.process_time()
    for _ in range(n):
        cycle()
    cpu = (time.process_time() - cpu) / max(1, n) * 1000
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(r"annotate|labelers|core|rest_framework/views|knox", 25)
    print(f"labeler_load_in_process cycles={n} app_cpu_ms_per_cycle={cpu:.2f}{' (profiled)' if prof else ''} "
          f"load={os.getloadavg()[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--labelers", type=int, default=0,
                    help="the realistic level: this many labelers with --think seconds between answers "
                         "(instead of --concurrency)")
    ap.add_argument("--think", type=float, default=20.0, help="with --labelers: mean think time, seconds")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--tasks", type=int, default=16000)
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds of calls before timing starts (default 3; with --labelers, 1.5 x --think)")
    ap.add_argument("--db", default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rl_q_bench"))
    ap.add_argument("--data-dir", default="/tmp/rl-q-bench")
    ap.add_argument("--server", choices=["granian", "gunicorn", "uvicorn"], default="granian",
                    help="granian: the app's own (config/server.py); gunicorn (gthread) and uvicorn (ASGI) to compare")
    ap.add_argument("--workers", type=int, default=0, help="default: the server's own (config/server.py: one per core)")
    ap.add_argument("--threads", type=int, default=0, help="default: the server's own (config/server.py)")
    ap.add_argument("--url", default="", help="a running server on the same --db; implies no server of its own")
    ap.add_argument("--no-floor", action="store_true")
    ap.add_argument("--combined", action="store_true",
                    help="one call per cycle: POST …/ranking-and-next/ (submit and lease the next task) instead of "
                         "next + submit; reported as labeler_load_combined")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--in-process", type=int, default=0, metavar="CYCLES",
                    help="no server, no clients: CYCLES next + submit cycles through config.wsgi.application in "
                         "this process, one labeler; prints the app CPU per cycle (and, with --profile, cProfile's "
                         "top functions): the app's cost without the machine's load in it")
    ap.add_argument("--profile", action="store_true", help="with --in-process: profile the cycles (cProfile)")
    args = ap.parse_args()
    think = args.think if args.labelers else 0.0
    levels = [args.labelers] if args.labelers else [int(c) for c in args.concurrency.split(",")]
    warmup = args.warmup if args.warmup is not None else (1.5 * think if think else 3.0)
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one socket per labeler
    if hard < max(levels) + 100:
        raise SystemExit(f"the open-file limit ({hard}) is below one socket per labeler; raise it (ulimit -n)")

    ensure_database(args.db)
    django_setup(args.db, args.data_dir)
    if args.in_process:
        in_process(args.in_process, profile=args.profile, seed=args.seed)
        return
    users = make_users(max(levels))
    records = make_dataset(args.tasks, args.seed)
    run_id = hashlib.sha1(str(time.time()).encode()).hexdigest()[:6]

    server = None
    url = args.url
    if not url:
        port = free_port()
        server = start_server(args.server, args.db, args.data_dir, port, args.workers, args.threads)
        url = f"http://127.0.0.1:{port}"
    layout = " ".join(server_command(args.server, 0, args.workers, args.threads)[1:]) if server else "its own"
    shape = (f"{args.labelers} labelers thinking {think:g} s (0.5-1.5x) between answers" if think
             else "no think time")
    print(f"# labeler_load: {url}, server {args.server} ({layout}), "
          f"PostgreSQL {urlsplit(args.db).path.lstrip('/')}, {args.tasks} tasks per level, overlap 1, {shape}, "
          f"{warmup:g} s warm-up + {args.duration:g} s per level, {os.cpu_count()} CPUs shared with the clients "
          f"and the database; load average {Path('/proc/loadavg').read_text().split()[:3]}")
    results = []
    try:
        for c in levels:
            pid = seed_project(f"load-{run_id}-C{c}", records, [u for u, _ in users[:c]])
            before = cpu_snapshot(server.pid if server else None, args.db)
            r = run_level(url, pid, [t for _, t in users[:c]], args.duration, warmup, args.combined, think)
            cpu = cpu_delta(before, cpu_snapshot(server.pid if server else None, args.db))
            dup, lost, stored = check_database(pid, r["acked"], r["handed"])
            floor = None
            if not args.no_floor and not think:
                fpid = seed_project(f"floor-{run_id}-C{c}", records, [u for u, _ in users[:c]])
                f = run_floor(args.db, fpid, [u.pk for u, _ in users[:c]], args.duration)
                floor = f["cycles"] / f["elapsed"]
            row = {"C": c, "think": think, "cycles": r["counted"], "elapsed": r["elapsed"],
                   "cycles_per_s": r["counted"] / r["elapsed"],
                   "next_p50": pct(r["next"], .5), "next_p99": pct(r["next"], .99),
                   "submit_p50": pct(r["submit"], .5), "submit_p99": pct(r["submit"], .99),
                   "errors": len(r["errors"]), "connection_errors": r["connection_errors"],
                   "duplicates": dup, "lost": lost, "stored": stored, "floor": floor,
                   "first_error": r["errors"][0] if r["errors"] else "", "cycles_per_second": r["per_second"],
                   "cpu_ms_per_cycle": {k: round(1000 * v / max(1, len(r["acked"])), 2) for k, v in cpu.items()}}
            results.append(row)
            print(f"C={c:>3}  cycles={row['cycles']:>6}  cycles/s={row['cycles_per_s']:8.1f}  "
                  f"next p50/p99 ms={row['next_p50']:6.1f}/{row['next_p99']:6.1f}  "
                  f"submit p50/p99 ms={row['submit_p50']:6.1f}/{row['submit_p99']:6.1f}  errors={row['errors']}  "
                  f"connection errors={row['connection_errors']}  "
                  f"duplicates={dup}  lost={lost}  floor cycles/s={floor if floor is None else round(floor, 1)}  "
                  f"CPU ms/cycle app/db/client={row['cpu_ms_per_cycle']['app']}/{row['cpu_ms_per_cycle']['db']}/"
                  f"{row['cpu_ms_per_cycle']['client']}"
                  + (f"  first error: {row['first_error']}" if row["errors"] else ""), flush=True)
            if r["per_second"]:
                steady = sorted(r["per_second"])
                print(f"#      cycles in each second: min {steady[0]}, median {steady[len(steady) // 2]}, max {steady[-1]}"
                      " (the machine's speed within the level)", flush=True)
    finally:
        if server is not None:
            stop_server(server)
    Path(args.data_dir, "labeler_load.json").write_text(json.dumps(results, indent=2, default=str))
    last = results[-1]
    p99 = max(v for v in (last["next_p99"], last["submit_p99"], 0.0) if v == v)  # NaN: no timed call of that kind
    print(f"# load average after: {Path('/proc/loadavg').read_text().split()[:3]}")
    if think:
        print(f"labeler_load_think labelers={last['C']} cycles_per_s={last['cycles_per_s']:.1f} p99_ms={p99:.1f} "
              f"duplicates={last['duplicates']} lost={last['lost']}")
        return
    floor = "n/a" if last["floor"] is None else f"{last['floor']:.1f}"
    name = "labeler_load_combined" if args.combined else "labeler_load"
    print(f"{name} C={last['C']} cycles_per_s={last['cycles_per_s']:.1f} p99_ms={p99:.1f} "
          f"duplicates={last['duplicates']} lost={last['lost']} floor_cycles_per_s={floor}")


if __name__ == "__main__":
    main()
