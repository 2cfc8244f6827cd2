"""The job kind that belongs to no app: a test job the suite and operators use to check that
workers, queues and the sweeper work."""
import time

from jobs.models import Job
from jobs.services import JobContext


def noop(job: Job, ctx: JobContext) -> dict:
    """`steps` progress reports, `sleep` seconds apart; `fail` raises."""
    steps = int(job.params.get("steps", 3))
    for i in range(steps):
        time.sleep(float(job.params.get("sleep", 0)))
        ctx.progress((i + 1) / steps, f"step {i + 1}/{steps}")
    if job.params.get("fail"):
        raise RuntimeError(job.params["fail"])
    ctx.log(f"done after {steps} steps")
    return {"steps": steps, "attempt": job.attempts}
