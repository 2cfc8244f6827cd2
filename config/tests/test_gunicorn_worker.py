"""The balanced gunicorn worker (config/gunicorn_worker.py) under real gunicorn processes."""
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from config import gunicorn_worker
from config.tests.pid_app import free_port

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"


def start(app="application", workers=4, threads=2, keepalive=30):
    """gunicorn with config/gunicorn.py's settings, once each of its workers has answered."""
    port = free_port()
    proc = subprocess.Popen(
        [str(GUNICORN), f"config.tests.pid_app:{app}", "-c", "python:config.gunicorn", "--bind",
         f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads), "--keep-alive", str(keepalive),
         "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.time() + 30
    pids = set()
    # Wait until every worker answers (each has claimed its slot by then).
    while len(pids) < workers and time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/?s=0")
            pids.add(conn.getresponse().read())
            conn.close()
        except OSError:
            time.sleep(0.1)
    if len(pids) < workers:
        proc.kill()
        pytest.fail(f"gunicorn did not start its {workers} workers")
    return proc, port


@pytest.fixture
def server():
    proc, port = start()
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def one_worker(request):
    """One worker with 2 threads serving pid_app.slow; options from @pytest.mark.parametrize's
    indirect value (app, keepalive)."""
    options = {"app": "slow", **getattr(request, "param", {})}
    proc, port = start(options.pop("app"), workers=1, **options)
    try:
        yield proc, port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def read_response(sock) -> bytes:
    """One whole response with a Content-Length (headers and body may come in separate reads)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def get(port_or_conn, path="/?s=0"):
    conn = (http.client.HTTPConnection("127.0.0.1", port_or_conn, timeout=10)
            if isinstance(port_or_conn, int) else port_or_conn)
    conn.request("GET", path)
    resp = conn.getresponse()
    return resp.status, resp.read(), resp.getheader("Connection")


def test_kept_alive_connections_are_spread_evenly(server):
    """32 clients connect at once and keep their connections: each of the 4 workers holds 8.
    (gunicorn's own gthread worker left 25 of 32 on one worker in bench/labeler_load.py.)"""
    barrier = threading.Barrier(32)
    conns, answers, lock = [], [], threading.Lock()

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
        barrier.wait()
        conn.connect()
        time.sleep(0.5)  # every connection is open before any request is made
        seen = set()
        for _ in range(3):  # the same connection stays with the same worker
            conn.request("GET", "/")
            seen.add(conn.getresponse().read())
        with lock:
            conns.append(conn)
            answers.append(seen)

    threads = [threading.Thread(target=client) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(seen) == 1 for seen in answers)
    per_worker = Counter(next(iter(seen)) for seen in answers)
    assert sorted(per_worker.values()) == [8, 8, 8, 8], per_worker
    for conn in conns:
        conn.close()


def test_a_dead_workers_slot_does_not_block_the_others(monkeypatch):
    now = 1000.0
    monkeypatch.setattr(gunicorn_worker, "_conns", [5, 2, 0] + [0] * (gunicorn_worker.SLOTS - 3))
    monkeypatch.setattr(gunicorn_worker, "_beats", [now, now, now - 10] + [0.0] * (gunicorn_worker.SLOTS - 3))
    monkeypatch.setattr(gunicorn_worker, "_used", SimpleNamespace(value=3))  # three slots claimed
    # Slot 2 (0 connections) stopped beating 10 s ago: it is ignored; slot 1 is the least loaded.
    assert gunicorn_worker.least_loaded(1, 2, now)
    assert not gunicorn_worker.least_loaded(0, 5, now)
    # Once slot 2 beats again (a live worker with no connection), it is the one to accept.
    gunicorn_worker._beats[2] = now
    assert not gunicorn_worker.least_loaded(1, 2, now)
    assert gunicorn_worker.least_loaded(2, 0, now)
    # A draining worker (stopping: it accepts nothing more) is never the one to wait for.
    gunicorn_worker._conns[2] = gunicorn_worker.DRAINING
    assert gunicorn_worker.least_loaded(1, 2, now)


def test_claimed_slots_bound_the_scan(monkeypatch):
    monkeypatch.setattr(gunicorn_worker, "_conns", [0] * gunicorn_worker.SLOTS)
    monkeypatch.setattr(gunicorn_worker, "_beats", [0.0] * gunicorn_worker.SLOTS)
    monkeypatch.setattr(gunicorn_worker, "_used", SimpleNamespace(value=0))
    assert [gunicorn_worker._claim_slot() for _ in range(2)] == [0, 1]
    assert gunicorn_worker._used.value == 2
    gunicorn_worker._conns[0] = 4
    assert not gunicorn_worker.least_loaded(0, 4, time.monotonic())  # slot 1, live with 0, is scanned
    gunicorn_worker._beats[0] = 0.0  # worker 0 exits; its replacement takes the freed slot
    assert gunicorn_worker._claim_slot() == 0
    assert gunicorn_worker._used.value == 2


def test_closed_connections_are_counted_out(server):
    """Workers count a connection out when its client hangs up: after closing the connections
    one worker held, the next connections go to that worker (it holds the fewest)."""
    conns = [http.client.HTTPConnection("127.0.0.1", server, timeout=10) for _ in range(8)]
    for conn in conns:
        conn.connect()
        time.sleep(0.05)  # one at a time: each worker's count is published before the next
    pids = [get(conn)[1] for conn in conns]
    assert sorted(Counter(pids).values()) == [2, 2, 2, 2]
    emptied = pids[0]
    for conn, pid in zip(conns, pids, strict=True):
        if pid == emptied:
            conn.close()
    time.sleep(0.5)
    fresh = [http.client.HTTPConnection("127.0.0.1", server, timeout=10) for _ in range(2)]
    for conn in fresh:
        conn.connect()
        time.sleep(0.05)
    assert [get(conn)[1] for conn in fresh] == [emptied, emptied]
    for conn in conns + fresh:
        conn.close()


def test_idle_connections_hold_no_thread(one_worker):
    """Connections that send nothing, or nothing after their first request, do not hold either
    of the worker's two threads: a fifth client is answered at once."""
    _, port = one_worker
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    kept = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(3)]
    for conn in kept:
        assert get(conn)[0] == 200
    started = time.monotonic()
    assert get(port)[0] == 200
    assert time.monotonic() - started < 1.0
    for sock in silent:
        sock.close()
    for conn in kept:
        conn.close()


def test_two_threads_serve_two_slow_requests_at_once(one_worker):
    _, port = one_worker
    results = []
    threads = [threading.Thread(target=lambda: results.append(get(port, "/?s=1"))) for _ in range(2)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r[0] for r in results] == [200, 200]
    assert time.monotonic() - started < 1.8  # one after the other would take 2 s


def test_pipelined_requests_are_all_answered(one_worker):
    """Requests a client sends back to back without waiting are buffered by the parser, where
    epoll cannot see them: each is answered, in order."""
    _, port = one_worker
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /?s=0 HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        data = b""
        while data.count(b"HTTP/1.1 200") < 3:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk


@pytest.mark.parametrize("one_worker", [{"keepalive": 1}], indirect=True)
def test_idle_connections_are_closed_after_the_keepalive_timeout(one_worker):
    _, port = one_worker
    with socket.create_connection(("127.0.0.1", port), timeout=10) as silent, \
            socket.create_connection(("127.0.0.1", port), timeout=10) as kept:
        kept.sendall(b"GET /?s=0 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(kept).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert silent.recv(1) == b""  # closed by the worker
        assert kept.recv(1) == b""
        assert 0.5 < time.monotonic() - started < 4


def test_sigterm_finishes_the_requests_in_flight(one_worker):
    """A graceful stop answers the request in progress; the kept-alive connection is then closed
    (after gunicorn's linger for a request already on its way) and the server exits cleanly."""
    proc, port = one_worker
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    results = []
    client = threading.Thread(target=lambda: results.append(get(conn, "/?s=1")))
    client.start()
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    client.join()
    status, pid, _ = results[0]
    assert status == 200 and pid.isdigit()
    conn.sock.settimeout(10)
    assert conn.sock.recv(1) == b""
    assert proc.wait(timeout=15) == 0


@pytest.mark.parametrize("one_worker", [{"app": "tricky"}], indirect=True)
def test_connections_gunicorn_closes_itself_are_counted_out_once(one_worker):
    """A response that breaks off after its headers makes gunicorn close the socket inside the
    request handling; the freed fd number is soon a new connection's. Two clients alternate such
    requests with plain ones on fresh connections: every plain request is answered, and once all
    are closed the worker counts just the one connection asking."""
    _, port = one_worker
    errors, answered = [], []

    def client():
        for _ in range(60):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                    sock.sendall(b"GET /fail HTTP/1.1\r\nHost: x\r\n\r\n")
                    while sock.recv(65536):
                        pass
                status, pid, _ = get(port, "/")
                if status == 200 and pid.isdigit():
                    answered.append(pid)
                else:
                    errors.append((status, pid))
            except Exception as exc:  # noqa: BLE001 - a dropped connection is the failure looked for
                errors.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(answered) == 120
    time.sleep(0.3)
    assert get(port, "/conns")[1] == b"1"


def test_a_closed_connection_ends_with_a_fin_not_a_reset(one_worker):
    """A request that asks to close, with a body the app does not read: the worker answers and
    closes, draining the unread bytes first. Closed with unread bytes, the kernel sends a reset,
    which can destroy an answer the client has not read yet (it does with some TCP stacks)."""
    _, port = one_worker
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        body = b"x" * 60_000
        sock.sendall(b"POST /?s=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body), body))
        time.sleep(0.3)  # the answer and the close happen while the body sits unread
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pytest.fail(f"reset after {data[:40]!r}")
    assert data.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("one_worker", [{"app": "tricky"}], indirect=True)
def test_a_stopping_worker_tells_the_others_it_takes_no_more(one_worker):
    """Once stopping, a worker publishes the highest count (so no live worker waits for it to
    take its turn) while still answering a request on a kept-alive connection."""
    proc, port = one_worker
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    assert get(conn, "/conns")[1] == b"1"
    proc.send_signal(signal.SIGTERM)
    # Until the worker has the signal its answers keep the connection; the first answer once it
    # is stopping closes it (within STOP_KEEPALIVE_LINGER, 2 s, of the stop).
    deadline = time.monotonic() + 10
    while (answer := get(conn, "/conns"))[2] != "close" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert answer == (200, str(gunicorn_worker.DRAINING).encode(), "close")
    assert proc.wait(timeout=15) == 0
