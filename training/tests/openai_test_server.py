"""A small OpenAI-compatible server for tests, run as a real process on 127.0.0.1:

    python training/tests/openai_test_server.py PORT [UPSTREAM_URL]

Without UPSTREAM_URL it answers /v1/chat/completions itself with deterministic text (one
choice per `n`); with it, it forwards requests to a real server (llama.cpp). Faults are
switched at run time by POST /_mode {"mode": ...}:
  ok | fail:N:STATUS (the next N requests get STATUS) | hang_after:N:SECONDS (after N good
  answers, wait SECONDS before answering) | no_n (one choice whatever `n` says) |
  echo_key:STATUS (refuse, quoting the Authorization header back, as careless servers do) |
  slow:SECONDS (every answer takes SECONDS).
GET /_stats returns the requests seen (n, seed, the Authorization header, status served) and
the most requests it had in flight at once.
"""
import json
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"mode": "ok", "good": 0, "requests": [], "inflight": 0, "max_inflight": 0}
LOCK = threading.Lock()
UPSTREAM = sys.argv[2] if len(sys.argv) > 2 else ""


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/_stats":
            with LOCK:
                return self._send(200, {"mode": STATE["mode"], "requests": STATE["requests"],
                                        "max_inflight": STATE["max_inflight"]})
        if self.path == "/v1/models":
            return self._send(200, {"object": "list", "data": [{"id": "test-model", "object": "model"}]})
        self._send(404, {"error": {"message": "not found"}})

    def do_POST(self):
        with LOCK:
            STATE["inflight"] += 1
            STATE["max_inflight"] = max(STATE["max_inflight"], STATE["inflight"])
        try:
            self._post()
        finally:
            with LOCK:
                STATE["inflight"] -= 1

    def _post(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.path == "/_mode":
            with LOCK:
                STATE.update(mode=body["mode"], good=0, requests=[], max_inflight=0)
                if body["mode"].startswith("fail:"):
                    STATE["fail_left"] = int(body["mode"].split(":")[1])
            return self._send(200, {"mode": body["mode"]})
        if self.path != "/v1/chat/completions":
            return self._send(404, {"error": {"message": "not found"}})
        mode = STATE["mode"]
        record = {"n": body.get("n"), "seed": body.get("seed"), "auth": self.headers.get("Authorization", ""),
                  "stream": bool(body.get("stream"))}
        with LOCK:
            STATE["requests"].append(record)
            if mode.startswith("fail:") and STATE.get("fail_left", 0) > 0:
                STATE["fail_left"] -= 1
                record["status"] = int(mode.split(":")[2])
                return self._send(record["status"], {"error": {"message": "upstream overloaded, try again"}})
            hang = mode.startswith("hang_after:") and STATE["good"] >= int(mode.split(":")[1])
            if not hang:
                STATE["good"] += 1
        if mode.startswith("echo_key:"):
            record["status"] = int(mode.split(":")[1])
            return self._send(record["status"], {"error": {"message": f"Invalid key: {record['auth']}"}})
        if hang:
            time.sleep(float(mode.split(":")[2]))
        if mode.startswith("slow:"):
            time.sleep(float(mode.split(":")[1]))
        record["status"] = 200
        if UPSTREAM:
            return self._forward(body)
        n = 1 if mode == "no_n" else int(body.get("n") or 1)
        question = body["messages"][-1]["content"]
        choices = [{"index": i, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": f"Answer {i} (seed {body.get('seed')}) to: {question}"}}
                   for i in range(n)]
        self._send(200, {"id": "cmpl-test", "object": "chat.completion", "model": body.get("model"),
                         "choices": choices, "usage": {"completion_tokens": 8 * n}})

    def _forward(self, body):
        request = urllib.request.Request(UPSTREAM.rstrip("/") + "/v1/chat/completions", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=300) as response:
            self._send(response.status, response.read(), response.headers.get("Content-Type", "application/json"))


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    server.serve_forever()
