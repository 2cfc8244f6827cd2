"""Start the whole app in the foreground: web (granian, config/server.py), a Celery worker and
Celery beat. A process that exits is started again (a crash loop stops everything); Ctrl-C stops
all three. Used by `make run`."""
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from jobs.queues import QUEUES

RESTARTS_PER_MINUTE = 5  # more than this and the process is crash-looping: stop and show why
# No proxy fronts `make run`, and the thread serving a request reads its body: threads to spare
# for a few dozen slow uploads (started only when needed; compose's nginx buffers bodies instead).
WEB_THREADS = 40


def web_command(*, host: str, port: int, workers: int) -> list[str]:
    """How `make run` serves HTTP."""
    return [sys.executable, "-m", "config.server", "--host", host, "--port", str(port), "--workers", str(workers),
            "--threads", str(WEB_THREADS), "--access-log"]


def stop_group(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    """Signal the process group `proc` leads: a killed server master leaves its workers behind,
    still serving the old code on the port, unless its whole group goes."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


class Command(BaseCommand):
    help = "Run web + worker + beat together, restarting any that exits (Ctrl-C stops them all)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("RANKLAB_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("RANKLAB_PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument("--worker-concurrency", type=int, default=2)

    def handle(self, *args, host, port, web_workers, worker_concurrency, **opts):
        env = dict(os.environ, DJANGO_SETTINGS_MODULE=os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local"))
        # Each worker process samples with one torch thread: on 2 cores, two processes with two
        # OpenMP threads each spin against each other and sampling gets much slower.
        env.setdefault("RANKLAB_TORCH_THREADS", str(max(1, (os.cpu_count() or 2) // worker_concurrency)))
        commands = {
            "web": web_command(host=host, port=port, workers=web_workers),
            "worker": [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", ",".join(QUEUES),
                       "--concurrency", str(worker_concurrency), "--loglevel", "INFO", "-n", "ranklab@%h"],
            "beat": [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
                     "-s", str(settings.DATA_DIR / "celerybeat-schedule")],
        }

        def start(name):
            return subprocess.Popen(commands[name], env=env, start_new_session=True)

        procs = {name: start(name) for name in commands}
        exits: dict[str, list[float]] = {name: [] for name in commands}
        self.stdout.write(self.style.SUCCESS(
            f"\nRanklab is running at http://{host}:{port}/  (database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
            f"broker: {'redis' if settings.REDIS_URL else 'embedded filesystem'})\nPress Ctrl-C to stop.\n"
        ))
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, proc in list(procs.items()):
                    if proc.poll() is None:
                        continue
                    stop_group(proc)
                    now = time.monotonic()
                    exits[name] = [t for t in exits[name] if now - t < 60] + [now]
                    if len(exits[name]) > RESTARTS_PER_MINUTE:
                        self.stderr.write(f"{name} exited {len(exits[name])} times within a minute (last code "
                                          f"{proc.returncode}); stopping the others.")
                        stopping = True
                        break
                    self.stderr.write(f"{name} exited with code {proc.returncode}; starting it again.")
                    procs[name] = start(name)
                time.sleep(0.5)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    stop_group(proc, signal.SIGTERM)
            deadline = time.time() + 15
            for proc in procs.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    pass
                stop_group(proc)  # whatever is left of each group, e.g. a worker that ignored SIGTERM
            self.stdout.write("Stopped web, worker and beat.")
