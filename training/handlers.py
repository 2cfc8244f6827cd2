"""Handlers of the job kinds that belong to no other app."""
import time

from training.models import Job
from training.services.jobs import JobContext


def noop(job: Job, ctx: JobContext) -> dict:
    """A test job: `steps` progress reports, `sleep` seconds apart; `fail` raises."""
    steps = int(job.params.get("steps", 3))
    for i in range(steps):
        time.sleep(float(job.params.get("sleep", 0)))
        ctx.progress((i + 1) / steps, f"step {i + 1}/{steps}")
    if job.params.get("fail"):
        raise RuntimeError(job.params["fail"])
    ctx.log(f"done after {steps} steps")
    return {"steps": steps, "attempt": job.attempts}


def convert_model(job: Job, ctx: JobContext) -> dict:
    """Convert a GGUF ModelVersion to a transformers directory once (idempotent)."""
    from pathlib import Path

    from training.ml.bundled import convert
    from training.models import ModelVersion

    model = ModelVersion.objects.get(pk=job.params["model_version_id"])
    target = Path(model.config.get("converted_dir") or Path(model.location).with_suffix(""))
    ctx.progress(0.05, f"converting {Path(model.location).name} (about 20 s on 2 cores)")
    convert(target, gguf=Path(model.location))
    config = dict(model.config, converted_dir=str(target), converted=True)
    ModelVersion.objects.filter(pk=model.pk).update(config=config)
    ctx.log(f"converted to {target}")
    return {"converted_dir": str(target)}
