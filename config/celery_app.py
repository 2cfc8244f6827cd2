"""The one Celery app. Its queues, and which worker consumes each, are in jobs/queues.py."""
import os

from celery import Celery

from jobs.queues import QUEUES

__all__ = ["QUEUES", "app"]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

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
