"""The one Celery app. Queues, and which worker consumes each:

- ``default``     small housekeeping (the job sweeper, test jobs): the main worker.
- ``exports``     export snapshots and imports: the main worker.
- ``generation``  candidate sampling, loads models: the main worker (docker compose: same worker).
- ``training``    reward / policy training subprocesses: the training worker, concurrency 1.

`make run` starts one worker consuming all four; docker-compose.yml splits training off.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

QUEUES = ("default", "exports", "generation", "training")

app = Celery("ranklab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _schedule(sender, **kwargs):
    from django.conf import settings

    sender.add_periodic_task(
        settings.JOB_SWEEP_INTERVAL, sender.signature("jobs.tasks.sweep_jobs"), name="sweep dead jobs"
    )
    sender.add_periodic_task(60, sender.signature("annotate.tasks.expire_leases"), name="expire leases")
