"""A gunicorn `gthread` worker that spreads kept-alive connections evenly over the workers.

All of gunicorn's workers wait on one listening socket and whichever wakes first accepts. With
clients that keep their connection open (the labeler workspace, API scripts), one worker can end
up holding most of them: 25 of 32 on one of 4 workers in `bench/labeler_load.py`. A worker runs
Python on one core at a time (the GIL), so its clients queue while the other workers idle: at
C=32 the p50 was 20 ms and the p99 230 ms (gunicorn issues #2817, #3071 and #3433 report the
same). This worker accepts a new connection only while it holds no more connections than the
least loaded live worker. The counts live in shared memory that the master allocates when it
imports this module, before it forks; each worker publishes its count and a heartbeat on every
turn of its event loop, and a slot whose heartbeat is older than STALE_S (a worker that died) is
ignored, so one dead worker cannot stop the others from accepting.

    gunicorn config.wsgi:application -c python:config.gunicorn
"""
from __future__ import annotations

import multiprocessing
import time

from gunicorn.workers.gthread import ThreadWorker

SLOTS = 256
STALE_S = 3.0  # the event loop turns at least once a second (its select timeout)
RECHECK_S = 0.02  # while waiting for its turn to accept, a worker looks again this often

_conns = multiprocessing.RawArray("i", SLOTS)
_beats = multiprocessing.RawArray("d", SLOTS)  # time.monotonic() of the last loop turn; 0: free
_used = multiprocessing.RawValue("i", 0)  # slots ever claimed: the scan stops there
_claim = multiprocessing.Lock()


def _claim_slot() -> int:
    with _claim:
        now = time.monotonic()
        for i in range(SLOTS):
            if now - _beats[i] > STALE_S:
                _conns[i], _beats[i] = 0, now
                _used.value = max(_used.value, i + 1)
                return i
    raise RuntimeError(f"more than {SLOTS} live gunicorn workers")


def least_loaded(slot: int, mine: int, now: float) -> bool:
    """True if no live worker other than `slot` holds fewer connections than `mine`."""
    # Runs on every turn of the event loop: only the slots in use are read (each read of a
    # shared array goes through ctypes; scanning all 256 cost ~2 % of a worker's CPU under load).
    for i in range(_used.value):
        if i != slot and _conns[i] < mine and now - _beats[i] <= STALE_S:
            return False
    return True


class BalancedThreadWorker(ThreadWorker):
    _slot = -1
    _want_accept = False

    def init_process(self):
        self._slot = _claim_slot()
        super().init_process()

    def _publish(self) -> float:
        now = time.monotonic()
        _conns[self._slot], _beats[self._slot] = self.nr_conns, now
        return now

    def set_accept_enabled(self, enabled):
        # gunicorn calls this when its own limit (worker_connections) changes the answer; the
        # balance is applied on top, and looked at again on every turn of the loop.
        self._want_accept = enabled
        self._apply_balance()

    def _apply_balance(self) -> bool:
        now = self._publish()
        # With reuse_port each worker has its own socket, which only it can drain: no balancing.
        allowed = self._want_accept and self.alive and (
            self.cfg.reuse_port or least_loaded(self._slot, self.nr_conns, now))
        super().set_accept_enabled(allowed)
        return allowed

    def wait_for_and_dispatch_events(self, timeout):
        if not self._apply_balance() and self._want_accept:
            timeout = min(timeout, RECHECK_S)
        super().wait_for_and_dispatch_events(timeout)

    def run(self):
        try:
            super().run()
        finally:
            _beats[self._slot] = 0.0  # free the slot at once
