"""gunicorn's C request parser (gunicorn_h1c, installed with ranklab[fast]) is the one the web
process uses, and it refuses every malformed request of this corpus that gunicorn's own Python
parser refuses: request smuggling lives in the differences between parsers. The registry holds
gunicorn_h1c 0.6.10, older than the 0.6.14 gunicorn's `fast` extra asks for; this test is what
says the older one is fit to use."""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from config.tests.pid_app import free_port

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"

CORPUS = {
    "get": b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    "post_length": b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    "chunked": b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "chunk_extension": b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\n\r\n",
    "pipelined": b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
    "expect_continue": b"POST /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
    "http10": b"GET / HTTP/1.0\r\n\r\n",
    "absolute_uri": b"GET http://x/abs?q=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    "one_leading_crlf": b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "tab_in_value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A:\ta\t\r\n\r\n",
    "utf8_value": "GET / HTTP/1.1\r\nHost: x\r\nX-A: é\r\n\r\n".encode(),
    # refused by both
    "bare_lf": b"GET / HTTP/1.1\nHost: x\n\n",
    "bare_lf_in_head": b"GET / HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n",
    "space_before_colon": b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    "obsolete_fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "length_and_chunked": (b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"5\r\nhello\r\n0\r\n\r\n"),
    "two_lengths": b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 3\r\n\r\nhello",
    "length_list": b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello",
    "length_plus": b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
    "length_negative": b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\nhello",
    "chunked_then_identity": b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    "space_in_coding_name": b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "bad_chunk_size": b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "bad_header_name": b"GET / HTTP/1.1\r\nHost: x\r\nFo@o: bar\r\n\r\n",
    "empty_header_name": b"GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n",
    "header_without_colon": b"GET / HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n",
    "nul_in_value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "cr_in_value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
    "del_in_value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n",
    "bad_method": b"GE(T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "long_method": b"A" * 40 + b" / HTTP/1.1\r\nHost: x\r\n\r\n",
    "http2_version": b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
    "bad_protocol": b"GET / HTTX/1.1\r\nHost: x\r\n\r\n",
    "space_in_target": b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
    "control_in_target": b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    "high_byte_in_target": b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n",
    "two_leading_crlf": b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "long_request_line": b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "many_headers": b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n",
    "long_header": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 9000 + b"\r\n\r\n",
    "unknown_coding": b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo\r\n\r\n",
}
# The Python parser answers an unknown transfer coding with 501; gunicorn_h1c before 0.6.14 with
# 400. Both refuse the request, which is what matters here.
SAME_REFUSAL = {"unknown_coding": {"400", "501"}}


def _answers(parser: str) -> dict[str, list]:
    """Per request of the corpus: the status of each response, and the echoed request for a 200."""
    port = free_port()
    proc = subprocess.Popen(
        [str(GUNICORN), "config.tests.pid_app:echo", "-c", "python:config.gunicorn", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--http-parser", parser, "--log-level", "critical"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    pytest.fail("gunicorn did not start")
                time.sleep(0.1)
        out = {}
        for name, raw in CORPUS.items():
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(raw)
                s.shutdown(socket.SHUT_WR)
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            answers = []
            while data.startswith(b"HTTP/1.1 "):  # each response: status line, head, Content-Length body
                head, _, rest = data.partition(b"\r\n\r\n")
                status = head[9:12].decode()
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                body, data = rest[:length], rest[length:]
                answers.append((status, json.loads(body)) if status == "200" else status)
            out[name] = answers
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_the_web_process_uses_the_c_parser():
    from gunicorn.config import Config
    from gunicorn.http.message import _check_fast_parser

    cfg = Config()
    cfg.set("http_parser", "auto")
    assert _check_fast_parser(cfg), "gunicorn_h1c is missing or too old: pip install -e '.[fast]'"


def test_the_c_parser_refuses_what_the_python_parser_refuses():
    python, fast = _answers("python"), _answers("fast")
    assert python["get"] == [("200", {"method": "GET", "path": "/a", "query": "b=1", "body": "",
                                      "headers": [["HTTP_HOST", "x"]]})]
    assert python["pipelined"][1][1]["path"] == "/2"
    for name in CORPUS:
        if name in SAME_REFUSAL:
            assert {python[name][0], fast[name][0]} <= SAME_REFUSAL[name], (name, python[name], fast[name])
        else:
            assert fast[name] == python[name], name
    refused = [name for name, answers in python.items() if answers and isinstance(answers[0], str) and answers[0] >= "400"]
    assert len(refused) >= 28, refused  # the corpus is mostly malformed requests
