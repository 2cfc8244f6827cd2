"""Celery entry points of the job framework: thin wrappers over jobs.services."""
from celery import shared_task

from jobs.services import job_run, jobs_sweep


@shared_task(name="jobs.tasks.run_job", acks_late=True)
def run_job(job_id: int) -> None:
    job_run(job_id=job_id)


@shared_task(name="jobs.tasks.sweep_jobs")
def sweep_jobs() -> dict:
    return jobs_sweep()


# Messages a broker still holds from before the job framework left the training app carry the
# old name; they run the same way.
shared_task(name="training.tasks.run_job", acks_late=True)(run_job.run)
