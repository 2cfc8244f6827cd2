"""Start the whole app in the foreground: web (gunicorn), a Celery worker and Celery beat.
Ctrl-C stops all three. Used by `make run`."""
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from config.celery_app import QUEUES


class Command(BaseCommand):
    help = "Run web + worker + beat together (Ctrl-C stops them all)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("RANKLAB_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("RANKLAB_PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument("--worker-concurrency", type=int, default=2)

    def handle(self, *args, host, port, web_workers, worker_concurrency, **opts):
        bin_dir = os.path.dirname(sys.executable)
        env = dict(os.environ, DJANGO_SETTINGS_MODULE=os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local"))
        # Each worker process samples with one torch thread: on 2 cores, two processes with two
        # OpenMP threads each spin against each other and sampling gets ~6x slower.
        env.setdefault("RANKLAB_TORCH_THREADS", str(max(1, (os.cpu_count() or 2) // worker_concurrency)))
        commands = {
            "web": [os.path.join(bin_dir, "gunicorn"), "config.wsgi:application", "-c", "python:config.gunicorn",
                    "--bind", f"{host}:{port}",
                    "--workers", str(web_workers), "--access-logfile", "-", "--graceful-timeout", "5"],
            "worker": [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", ",".join(QUEUES),
                       "--concurrency", str(worker_concurrency), "--loglevel", "INFO", "-n", "ranklab@%h"],
            "beat": [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
                     "-s", str(settings.DATA_DIR / "celerybeat-schedule")],
        }
        procs = {}
        for name, cmd in commands.items():
            procs[name] = subprocess.Popen(cmd, env=env, start_new_session=True)
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
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with code {proc.returncode}; stopping the others.")
                        stopping = True
                time.sleep(0.5)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.time() + 15
            for proc in procs.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            self.stdout.write("Stopped web, worker and beat.")
