"""Slow clients for the server tests: connections that send a request one byte a second."""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

# A request whose body the app reads (DRF parses it before it can refuse the credentials).
BODY = b'{"username": "slow", "password": "' + b"y" * 60 + b'"}'
HEAD = (b"POST /api/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(BODY))


def get_seconds(port: int, path: str = "/accounts/login/", timeout: float = 5.0) -> float:
    """Seconds a fresh connection takes to get a whole 200 answer to GET `path` (`timeout` if none)."""
    start = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
    except OSError:
        return timeout
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    return time.perf_counter() - start


def answers(port: int, path: str = "/accounts/login/") -> bool:
    """Whether GET `path` answers 200 now (for waiting until a server is up)."""
    try:
        return get_seconds(port, path, timeout=2) < 2
    except AssertionError:
        return False


@contextmanager
def slow_clients(port: int, n: int = 32):
    """n connections to `port`, each sending its request one byte a second: the even ones trickle
    their head, the odd ones send a whole head and trickle the body (a slow upload). Yields, once
    each has sent two bytes, the list of those that were cut off or failed (check it after the
    latencies: a stalled server also cuts slow clients off, at its read timeout)."""
    stop = threading.Event()
    sent = [0] * n
    failed: list[str] = []

    def trickle(i: int):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                if i % 2:
                    sock.sendall(HEAD)
                    data = BODY
                else:
                    data = HEAD + BODY
                for byte in data:
                    sock.sendall(bytes([byte]))
                    sent[i] += 1
                    if stop.wait(1.0):
                        return
        except OSError as exc:
            failed.append(f"slow client {i}: {exc!r}")

    threads = [threading.Thread(target=trickle, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 10
        while min(sent) < 2 and not failed and time.monotonic() < deadline:
            time.sleep(0.05)
        assert min(sent) >= 2 and not failed, f"slow clients did not get going: {sent} {failed}"
        yield failed
    finally:
        stop.set()
