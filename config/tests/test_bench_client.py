"""The HTTP client of bench/labeler_load.py (a plain socket, not http.client) against canned
responses: Content-Length and chunked bodies, a server that closes the connection, one that is
down for a while, and 5xx answers that a labeler retries."""
import importlib.util
import json
import socket
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("labeler_load", ROOT / "bench" / "labeler_load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def serve(responses, port=0):
    """A server answering each request it reads with the next of `responses`: (bytes, close)."""
    listener = socket.create_server(("127.0.0.1", port))
    requests = []

    def run():
        pending = list(responses)
        while pending:
            conn, _ = listener.accept()
            with conn:
                buf = b""
                while pending:
                    while b"\r\n\r\n" not in buf:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        buf += chunk
                    if b"\r\n\r\n" not in buf:
                        break
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                    while len(buf) < length:
                        buf += conn.recv(65536)
                    requests.append((head, buf[:length]))
                    buf = buf[length:]
                    response, close = pending.pop(0)
                    conn.sendall(response)
                    if close:
                        break
        listener.close()

    threading.Thread(target=run, daemon=True).start()
    return listener.getsockname()[1], requests


def test_lengths_chunks_and_a_closed_connection(bench):
    body = json.dumps({"id": 7}).encode()
    port, requests = serve([
        (b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
         False),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n", False),
        (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", True),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n{\"assignment\": 1}", False),
    ])
    client = bench.Client("127.0.0.1", port, "tok")
    assert client.post("/api/assignments/1/ranking/", {"tiers": [[1], [2]]}) == (201, {"id": 7})
    assert client.post("/next/") == (200, {"a": 1})
    assert client.post("/next/") == (400, {})
    assert client.sock is None  # the server said close: the next request reconnects
    assert client.post("/next/") == (200, {"assignment": 1})
    head, sent = requests[0]
    assert head.startswith(b"POST /api/assignments/1/ranking/ HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Token tok" in head and json.loads(sent) == {"tiers": [[1], [2]]}
    assert requests[1][1] == b"{}"


def test_a_connection_the_server_dropped_is_reopened_once(bench):
    port, requests = serve([(b"", True), (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", False)])
    client = bench.Client("127.0.0.1", port, "tok")
    assert client.post("/next/") == (200, {})
    assert len(requests) == 2  # the first attempt met a closed connection


def test_a_server_down_for_a_while_and_dropping_connections_is_retried_until_it_answers(bench):
    """Today's fault mix: nothing listening at first (a restarting server), then connections
    closed before any answer (a killed worker); the client keeps trying, as a labeler would."""
    port = bench.free_port()
    client = bench.Client("127.0.0.1", port, "tok", timeout=5, retry_for=30)
    got = []
    caller = threading.Thread(target=lambda: got.append(client.post("/next/")))
    caller.start()
    time.sleep(0.5)  # refused meanwhile
    _, requests = serve([(b"", True)] * 3 + [(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", False)], port=port)
    caller.join(timeout=30)
    assert got == [(200, {})]
    assert len(requests) == 4 and client.connection_errors >= 4


def test_a_5xx_is_retried_with_the_same_request_and_counted(bench):
    port, requests = serve([
        (b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: 20\r\n\r\n"
         b"<h1>Server Error</h1", False),
        (b"HTTP/1.1 201 Created\r\nContent-Length: 9\r\n\r\n{\"id\": 3}", False),
    ])
    client = bench.Client("127.0.0.1", port, "tok")
    errors = []
    assert bench.call(client, "/ranking/", {"tiers": [[1]]}, 201, errors, [time.perf_counter() + 60], "submit") == (
        201, {"id": 3})
    assert errors == ["submit 500 {'detail': '<h1>Server Error</h1'}"]
    assert requests[0][1] == requests[1][1] == b'{"tiers": [[1]]}'
