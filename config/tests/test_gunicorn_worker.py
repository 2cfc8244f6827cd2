"""The balanced gunicorn worker (config/gunicorn_worker.py) under real gunicorn processes."""
import http.client
import os
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


@pytest.fixture
def server():
    port = free_port()
    proc = subprocess.Popen(
        [str(GUNICORN), "config.tests.pid_app:application", "-c", "python:config.gunicorn", "--bind",
         f"127.0.0.1:{port}", "--workers", "4", "--threads", "2", "--keep-alive", "30", "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.time() + 30
        pids = set()
        # Wait until all four workers answer (each has claimed its slot by then).
        while len(pids) < 4 and time.time() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/")
                pids.add(conn.getresponse().read())
                conn.close()
            except OSError:
                time.sleep(0.1)
        if len(pids) < 4:
            pytest.fail("gunicorn did not start its 4 workers")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


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
