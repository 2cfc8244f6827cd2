"""Celery entry points: thin wrappers over training.services.jobs."""
from celery import shared_task

from training.services.jobs import job_run, jobs_sweep


@shared_task(name="training.tasks.run_job", acks_late=True)
def run_job(job_id: int) -> None:
    job_run(job_id=job_id)


@shared_task(name="training.tasks.sweep_jobs")
def sweep_jobs() -> dict:
    return jobs_sweep()
