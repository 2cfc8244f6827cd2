"""WSGI apps for the tests that start real gunicorn processes, and a free loopback port for any
test that starts a server."""
import os
import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def application(environ, start_response):
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def echo(environ, start_response):
    """The request as the app sees it (for test_http_parser.py)."""
    import json

    body = json.dumps({
        "method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"], "query": environ["QUERY_STRING"],
        "body": environ["wsgi.input"].read().decode("latin-1"),
        "headers": sorted([k, v] for k, v in environ.items() if k.startswith(("HTTP_", "CONTENT_"))),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def slow(environ, start_response):
    """The worker's pid after sleeping ?s seconds (default 0.5): a request that holds a thread."""
    import time
    from urllib.parse import parse_qs

    time.sleep(float(parse_qs(environ["QUERY_STRING"]).get("s", ["0.5"])[0]))
    return application(environ, start_response)


def tricky(environ, start_response):
    """/fail: a response that breaks after its headers went out (gunicorn then closes the
    connection itself); /conns: the connection counts the workers publish (config/gunicorn_worker.py);
    anything else: the worker's pid."""
    path = environ["PATH_INFO"]
    if path == "/fail":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body():
            yield b"partial"
            raise RuntimeError("the response breaks off")
        return body()
    if path == "/conns":
        from config import gunicorn_worker

        body = ",".join(str(gunicorn_worker._conns[i]) for i in range(gunicorn_worker._used.value)).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    return application(environ, start_response)
