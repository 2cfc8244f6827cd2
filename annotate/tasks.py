"""Celery entry points of the annotation app."""
from celery import shared_task

from annotate.services.assignments import leases_expire


@shared_task(name="annotate.tasks.expire_leases")
def expire_leases() -> int:
    """Return expired leases' tasks to the pool even when nobody asks for work."""
    return leases_expire()
