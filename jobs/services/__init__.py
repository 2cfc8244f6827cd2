"""The job framework's writes: create, enqueue, cancel and retry a job (lifecycle.py), run one
in a worker with a JobContext and a heartbeat (run.py), recover lost ones (sweep.py).

    job = job_create(kind="export", project=project, params={...}, user=request.user)
    # enqueued after the surrounding transaction commits; jobs.tasks.run_job runs it
"""
from jobs.services.lifecycle import job_cancel, job_create, job_enqueue, job_retry
from jobs.services.run import JobCancelled, JobContext, job_run
from jobs.services.sweep import jobs_sweep

__all__ = ["JobCancelled", "JobContext", "job_cancel", "job_create", "job_enqueue", "job_retry", "job_run",
           "jobs_sweep"]
