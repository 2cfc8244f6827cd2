"""The web server as `make run` starts it (`manage.py runstack` on the embedded default): slow
clients cannot stall it, and a killed web master is replaced, the workers it left with it."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from config.tests.slow_clients import answers, get_seconds, slow_clients
from conftest import free_port, wait_for

pytestmark = pytest.mark.process
ROOT = Path(__file__).resolve().parents[2]
SLOW_CLIENTS = 32


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _web(stack) -> int | None:
    """The pid of runstack's web server process."""
    return next((p for p in _children(stack.proc.pid) if "config.server" in _cmdline(p)), None)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    data = tmp_path_factory.mktemp("stack")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(RANKLAB_DATA_DIR=str(data), PYTHONUNBUFFERED="1")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    port = free_port()
    log = open(data / "runstack.log", "wb")
    proc = subprocess.Popen([sys.executable, "manage.py", "runstack", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    stack = SimpleNamespace(port=port, proc=proc, log=data / "runstack.log")
    try:
        wait_for(lambda: answers(port), timeout=90, message="the web server")
        yield stack
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_32_slow_clients_do_not_delay_a_normal_request(stack):
    """Half the slow clients send their request head one byte a second, half a whole head and
    then their body one byte a second (a slow upload); every request of a normal client
    meanwhile is answered within 500 ms."""
    for _ in range(10):  # every worker has loaded the page once
        get_seconds(stack.port)
    with slow_clients(stack.port, SLOW_CLIENTS) as failed:
        latencies = []
        for _ in range(20):
            latencies.append(get_seconds(stack.port, timeout=2))
            time.sleep(0.1)
    assert max(latencies) < 0.5, f"normal requests took up to {max(latencies):.2f} s: {sorted(latencies)[-5:]}"
    assert failed == [], "a slow client was cut off"


def test_a_killed_web_master_is_replaced_and_its_workers_go(stack):
    web = _web(stack)
    workers = _children(web)
    assert web and workers
    os.kill(web, signal.SIGKILL)
    replaced = wait_for(lambda: (new := _web(stack)) not in (None, web) and new, timeout=30,
                        message="runstack to start the web server again")
    wait_for(lambda: answers(stack.port), timeout=60, message="the new web server to answer")
    wait_for(lambda: not any(_alive(p) for p in workers), timeout=10, message="the old master's workers to go")
    assert stack.proc.poll() is None and _alive(replaced)
    assert b"web exited with code -9; starting it again" in stack.log.read_bytes()
