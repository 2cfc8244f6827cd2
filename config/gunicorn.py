"""gunicorn settings for Ranklab's web process (`gunicorn config.wsgi:application -c python:config.gunicorn`).

Used by `make run` (runstack), the Dockerfile, docker-compose and bench/labeler_load.py. Options
given on the command line override these; so do GUNICORN_* variables (WEB_CONCURRENCY, as in
gunicorn, for the number of workers).
"""
import os

# One process per core, two threads each: a worker runs Python on one core at a time (the GIL),
# so more processes or threads only add switching and cache misses; a second thread runs while
# the first waits for the database. Measured with bench/labeler_load.py at C=32 on 2 cores with
# the balanced worker (same hour, 15 s runs): 2 x 2 gave 234-236 labeler cycles/s with a p99 of
# 87-90 ms, 2 x 3 231-237 and 92-98 ms, 2 x 4 223-230 and 106-112 ms; on a faster hour 4 x 4 gave
# 248 and 131 ms, 2 x 8 258 and 169 ms. With the worker that serves connections from its threads
# (2026-12-05, interleaved 12 s runs): 2 x 2 405-430 cycles/s, p99 52-57 ms; 2 x 3 429-443, 55-56 ms;
# 3 x 2 346-428, 60-78 ms. Raise GUNICORN_THREADS if many slow downloads (exports) would hold threads.
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, os.cpu_count() or 1)))
threads = int(os.environ.get("GUNICORN_THREADS", 2))
# Kept-alive connections spread evenly over the workers, served by the thread that finds them
# ready (see config/gunicorn_worker.py).
worker_class = "config.gunicorn_worker.BalancedThreadWorker"
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 5))
graceful_timeout = 10
backlog = 2048


def post_worker_init(worker):
    """Move what loading Django created (modules, URL patterns, models: ~100k objects) out of
    the garbage collector's reach: its full collections then scan only what requests allocate,
    instead of pausing all of a worker's threads for ~30 ms (measured) now and then."""
    import gc

    gc.collect()
    gc.freeze()
