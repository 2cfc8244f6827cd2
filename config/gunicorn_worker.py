"""A gunicorn `gthread` worker whose threads serve ready connections themselves, spread evenly
over the workers.

Two changes to gunicorn's gthread worker, both measured with bench/labeler_load.py:

**Kept-alive connections spread evenly over the workers.** All of gunicorn's workers wait on one
listening socket and whichever wakes first accepts. With clients that keep their connection open
(the labeler workspace, API scripts), one worker can end up holding most of them: 25 of 32 on one
of 4 workers. A worker runs Python on one core at a time (the GIL), so its clients queue while the
other workers idle: at C=32 the p50 was 20 ms and the p99 230 ms (gunicorn issues #2817, #3071 and
#3433 report the same). This worker accepts a new connection only while it holds no more
connections than the least loaded live worker. The counts live in shared memory that the master
allocates when it imports this module, before it forks; each worker publishes its count and a
heartbeat on every turn of its main loop (and its count whenever a connection closes), and a slot
whose heartbeat is older than STALE_S (a worker that died) is ignored, so one dead worker cannot
stop the others from accepting. A stopping worker publishes the highest count (it takes no more)
and keeps its heartbeat until it exits.

**No hand-off per request.** In gthread, the main thread waits for a readable connection, takes it
out of its selector and queues it to the thread pool; a pool thread serves the request and queues
the connection back through a pipe; the main thread wakes again and puts it back in its selector:
two thread hand-offs, a pipe write and read and two epoll changes per request, each hand-off a
wait for the GIL. Here every connection sits in one epoll set in one-shot mode; each thread waits
on that set itself, serves the one connection it gets (requests already buffered on it too) and
re-arms it: one epoll wait and one epoll change per request. The kernel hands a ready connection
to one waiting thread, so the threads still share one queue. The main thread only accepts, closes
connections idle for longer than the keep-alive timeout, and heartbeats. At C=32 on 2 cores this
took ~15 % of the app's CPU per labeler cycle and ~20 % of the p99 (docs/benchmarks.md).

Requests are parsed and answered by gunicorn's own code (`ThreadWorker.handle`: limits, errors,
keep-alive, max_requests); a connection is closed after draining what the client sent unread (as
gunicorn's close_graceful, without waiting for the client's FIN). On SIGTERM the worker stops
accepting, finishes the requests in flight, answers requests that arrive within
STOP_KEEPALIVE_LINGER with `Connection: close`, then exits. Only HTTP/1 is served this way
(gunicorn's HTTP/2 is not enabled in config/gunicorn.py). Bookkeeping is per connection object, not
per fd number: gunicorn may close a socket itself while serving it (a response that breaks off),
and the kernel reuses the number for the next connection accepted.

    gunicorn config.wsgi:application -c python:config.gunicorn
"""
from __future__ import annotations

import errno
import multiprocessing
import select
import selectors
import socket
import ssl
import threading
import time

from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, TConn, ThreadWorker

SLOTS = 256
STALE_S = 3.0  # the main loop turns at least once a second (its select timeout)
RECHECK_S = 0.02  # while waiting for its turn to accept, a worker looks again this often
# While accepting, a worker looks again this often (and after each accept) whether it still holds
# the fewest connections: others' counts fall when their clients hang up.
ACCEPTING_RECHECK_S = 0.1
REAP_EVERY_S = 0.5  # idle connections are looked for this often
DRAINING = 2**31 - 1  # the count a draining worker publishes: it takes no new connection
_ARMED = select.EPOLLIN | select.EPOLLONESHOT

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
    # Runs on every turn of the main loop: only the slots in use are read (each read of a
    # shared array goes through ctypes; scanning all 256 cost ~2 % of a worker's CPU under load).
    for i in range(_used.value):
        if i != slot and _conns[i] < mine and now - _beats[i] <= STALE_S:
            return False
    return True


def _has_data(sock) -> bool:
    """Whether a read would not block: bytes, end of stream or an error (which the request
    handling then meets and closes the connection on)."""
    if isinstance(sock, ssl.SSLSocket):  # takes no recv flags
        return sock.pending() > 0 or bool(select.select([sock], [], [], 0)[0])
    try:
        sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except (OSError, ValueError):
        pass
    return True


def _close_socket(sock) -> None:
    """Close without a reset: unread bytes in the receive buffer (a malformed request's rest, a
    request pipelined behind a `Connection: close` answer) would make the kernel send RST, which
    can destroy the response the client has not read yet; they are drained first, after the FIN
    (gunicorn's close_graceful, without its wait of up to 2 s for the client's FIN: a serving
    thread does this; bytes a client is still sending after the close can still draw a reset)."""
    if sock.fileno() >= 0 and _has_data(sock):
        try:
            sock.shutdown(socket.SHUT_WR)
            for _ in range(16):
                if not sock.recv(65536, socket.MSG_DONTWAIT):
                    break
        except (OSError, ValueError):
            pass
    sock.close()


class _Conn(TConn):
    """gunicorn's connection, with the worker's bookkeeping: its fd number (the socket's
    fileno() is -1 once closed), whether a thread is serving it, whether it was counted out."""

    fd = -1
    busy = False
    gone = False


class BalancedThreadWorker(ThreadWorker):
    _slot = -1
    _want_accept = False
    _draining = False

    def init_process(self):
        self._slot = _claim_slot()
        self._epoll = select.epoll()
        self._lock = threading.Lock()  # guards _open, the connections' busy and gone, nr_conns
        self._open: dict[int, _Conn] = {}  # fd -> connection
        self._stopping = False
        super().init_process()

    # --- balance ---------------------------------------------------------------------------

    def _publish(self) -> float:
        """The count others compare with, and the heartbeat. A draining worker accepts no more
        and says so with the highest count, so no other worker waits for it to take its turn."""
        now = time.monotonic()
        _conns[self._slot], _beats[self._slot] = DRAINING if self._draining else self.nr_conns, now
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
        if self._apply_balance():
            timeout = min(timeout, ACCEPTING_RECHECK_S)
        elif self._want_accept:
            timeout = min(timeout, RECHECK_S)
        super().wait_for_and_dispatch_events(timeout)

    # --- main thread: accept, reap, heartbeat ---------------------------------------------------

    def run(self):
        # The method queue only wakes this loop when a signal asks the worker to stop.
        self.poller.register(self.method_queue.fileno(), selectors.EVENT_READ, self.method_queue.run_callbacks)
        self.set_accept_enabled(True)
        self._threads = [threading.Thread(target=self._serve, name=f"gunicorn-{i}", daemon=True)
                         for i in range(self.cfg.threads)]
        for t in self._threads:
            t.start()
        try:
            next_reap = 0.0
            while self.alive:
                self.notify()
                can_accept = self.nr_conns < self.worker_connections
                if can_accept != self._accepting:
                    self.set_accept_enabled(can_accept)
                self.wait_for_and_dispatch_events(timeout=1.0)
                if not self.is_parent_alive():
                    break
                now = time.monotonic()
                if now >= next_reap:
                    self._reap(now)
                    next_reap = now + REAP_EVERY_S
                if not all(t.is_alive() for t in self._threads):
                    self.log.error("A serving thread died: restarting the worker.")
                    self.alive = False
            self._drain()
        finally:
            self._stopping = True
            deadline = time.monotonic() + 1.0
            for t in self._threads:
                self._publish()  # the slot stays this worker's until it is freed below
                t.join(max(0.0, deadline - time.monotonic()))
            with self._lock:
                for conn in list(self._open.values()):
                    self._forget(conn)
                    conn.close()
            self._epoll.close()
            self.tpool.shutdown(wait=False)
            self.poller.close()
            self.method_queue.close()
            _beats[self._slot] = 0.0  # free the slot at once
            for s in self.sockets:
                s.close()

    def _drain(self):
        """Stop accepting; wait for the requests in flight (at most graceful_timeout). Idle
        connections stay open STOP_KEEPALIVE_LINGER at most, for a request a client may already be
        sending: it is answered with `Connection: close` (gunicorn does so once `alive` is False).
        The slot keeps its heartbeat, so no new worker claims it meanwhile."""
        with self._lock:
            self._draining = True  # before anything publishes: the count others see is DRAINING
        self.set_accept_enabled(False)
        linger = time.monotonic() + STOP_KEEPALIVE_LINGER
        with self._lock:
            for conn in self._open.values():
                conn.timeout = min(conn.timeout, linger)
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while self.nr_conns > 0 and time.monotonic() < deadline:
            self.notify()
            self._publish()
            time.sleep(0.05)
            self._reap(time.monotonic())

    def accept(self, listener):
        try:
            sock, addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        conn = _Conn(self.cfg, sock, addr, listener.getsockname())
        sock.setblocking(True)  # _Conn made it non-blocking; reads happen once epoll says readable
        conn.set_timeout()  # a connection that sends nothing is closed like an idle one
        conn.fd = fd = sock.fileno()
        with self._lock:
            old = self._open.get(fd)
            if old is not None:
                # The fd number of a connection whose socket gunicorn closed while a thread served
                # it (an error after the response started): that one is gone, and its closed
                # socket left the epoll set with it.
                old.gone = True
                self.nr_conns -= 1
            self.nr_conns += 1
            self._open[fd] = conn
            self._epoll.register(fd, _ARMED)
        self._publish()

    def _forget(self, conn: _Conn):
        """Count a connection out and take it off the epoll set (the lock held); the caller closes
        its socket."""
        if conn.gone:
            return
        conn.gone = True
        self.nr_conns -= 1
        if self._open.get(conn.fd) is conn:
            del self._open[conn.fd]
            try:
                self._epoll.unregister(conn.fd)
            except (OSError, ValueError):
                pass
        if not self._draining:
            _conns[self._slot] = self.nr_conns

    def _reap(self, now: float):
        with self._lock:
            # A connection whose request waits for a free thread is not idle.
            idle = [conn for conn in self._open.values()
                    if not conn.busy and conn.timeout < now and not _has_data(conn.sock)]
            for conn in idle:
                self._forget(conn)
        for conn in idle:
            conn.close()

    # --- serving threads -------------------------------------------------------------------

    def _serve(self):
        epoll, lock, open_ = self._epoll, self._lock, self._open
        while not self._stopping:
            try:
                events = epoll.poll(0.5, 1)
            except InterruptedError:
                continue
            except (OSError, ValueError):  # the epoll set was closed: the worker is exiting
                return
            for fd, _ in events:
                with lock:
                    conn = open_.get(fd)
                    if conn is None or conn.busy:
                        continue
                    conn.busy = True
                try:
                    self._serve_one(conn)
                except Exception:  # noqa: BLE001 - a thread must outlive any one connection
                    self.log.exception("Error serving a connection")
                    with lock:
                        self._forget(conn)
                    conn.sock.close()

    def _serve_one(self, conn: _Conn):
        # An event picked up just before its connection was closed may belong to the fd number's
        # new connection, which may have nothing to read: serve only what would not block.
        if not _has_data(conn.sock):
            with self._lock:
                conn.busy = False
                if not conn.gone:
                    self._epoll.modify(conn.fd, _ARMED)
            return
        conn.data_ready = True  # no wait in handle(): the socket is readable
        keep = self.handle(conn)
        # Requests the client already sent (pipelined) are in the parser's buffer, which epoll
        # cannot see: serve them now.
        while keep is True and conn.parser.unreader.buf.getvalue():
            keep = self.handle(conn)
        with self._lock:
            conn.busy = False
            if keep is True and not conn.gone:
                conn.set_timeout()
                if not self.alive:
                    conn.timeout = min(conn.timeout, time.monotonic() + STOP_KEEPALIVE_LINGER)
                self._epoll.modify(conn.fd, _ARMED)
                return
            self._forget(conn)
        _close_socket(conn.sock)
