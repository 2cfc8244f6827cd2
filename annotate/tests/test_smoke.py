"""`make run`'s start-up, headless: migrate, seed the demo, start web + worker + beat on the
embedded default (SQLite, filesystem broker), log in as the admin, see the demo project, its
prompts and the bundled model, then Ctrl-C stops every process that was started."""
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


def _children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


@pytest.fixture
def embedded_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(RANKLAB_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1")
    return env


def test_make_run_startup_headless(embedded_env, tmp_path):
    py = sys.executable
    subprocess.run([py, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=embedded_env, check=True,
                   capture_output=True)
    seeded = subprocess.run([py, "manage.py", "seed_demo"], cwd=ROOT, env=embedded_env, check=True,
                            capture_output=True, text=True)
    assert "admin" in seeded.stdout and "password:" in seeded.stdout
    # Running it again reuses what exists.
    again = subprocess.run([py, "manage.py", "seed_demo"], cwd=ROOT, env=embedded_env, check=True,
                           capture_output=True, text=True)
    password = json.loads((tmp_path / "data" / "demo-credentials.json").read_text())["admin"]
    assert f"password: {password}" in again.stdout

    port = free_port()
    log = open(tmp_path / "runstack.log", "wb")
    stack = subprocess.Popen([py, "manage.py", "runstack", "--port", str(port), "--web-workers", "1"], cwd=ROOT,
                             env=embedded_env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        def up():
            try:
                return httpx.get(f"{base}/accounts/login/", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, timeout=60, message="the web server")
        children = _children(stack.pid)
        assert len(children) == 3, children

        with httpx.Client(base_url=base, follow_redirects=True, timeout=10) as client:
            page = client.get("/accounts/login/")
            assert "Content-Security-Policy" in page.headers
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
            home = client.post("/accounts/login/", data={"username": "admin", "password": password,
                                                         "csrfmiddlewaretoken": token},
                               headers={"Referer": f"{base}/accounts/login/"})
            assert "Demo: assistant answers" in home.text
            assert client.get("/admin/").status_code == 200
            assert "Demo: assistant answers" in client.get("/admin/annotate/project/").text
            prompts = client.get("/admin/annotate/prompt/")
            assert re.search(r"333 prompts", prompts.text), "all seed prompts listed (335 rows, 2 duplicates)"
            assert "SmolLM2-135M-Instruct" in client.get("/admin/training/modelversion/").text
            assert client.get("/api/schema/").status_code == 200
            # Served as a user gets it: DEBUG off, so a styled page with a way back, no URL list.
            missing = client.get("/no-such-page/")
            assert missing.status_code == 404 and "Back to your projects" in missing.text
            assert "URLconf" not in missing.text and "Traceback" not in missing.text
            assert client.get("/favicon.ico").status_code == 200
    finally:
        stack.send_signal(signal.SIGINT)
        stack.wait(timeout=40)
        log.close()
    assert stack.returncode == 0, (tmp_path / "runstack.log").read_text()[-3000:]
    wait_for(lambda: not any(_alive(pid) for pid in children), timeout=20, message="web, worker and beat to stop")
