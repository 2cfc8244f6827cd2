"""gunicorn settings for Ranklab's web process (`gunicorn config.wsgi:application -c python:config.gunicorn`).

Used by `make run` (runstack), the Dockerfile, docker-compose and bench/labeler_load.py. Options
given on the command line override these; so do GUNICORN_* variables (WEB_CONCURRENCY, as in
gunicorn, for the number of workers).
"""
import os

# Threads in a few processes: a worker runs Python on one core at a time, so more processes than
# cores only add memory and cache misses (bench: 8 workers x 4 threads cost 8.5 ms of app CPU
# per labeler cycle, 4 x 4 cost 6.3 ms on 2 cores).
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1)))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
# Kept-alive connections spread evenly over the workers (see config/gunicorn_worker.py).
worker_class = "config.gunicorn_worker.BalancedThreadWorker"
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 5))
graceful_timeout = 10
backlog = 2048
