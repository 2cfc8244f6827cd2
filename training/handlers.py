"""Handlers of the training app's job kinds that have no service module of their own."""
from jobs.models import Job
from jobs.services import JobContext


def convert_model(job: Job, ctx: JobContext) -> dict:
    """Convert a GGUF ModelVersion to a transformers directory once (idempotent)."""
    from pathlib import Path

    from training.ml.bundled import convert
    from training.models import ModelVersion

    model = ModelVersion.objects.get(pk=job.params["model_version_id"])
    target = Path(model.config.get("converted_dir") or Path(model.location).with_suffix(""))
    ctx.progress(0.05, f"converting {Path(model.location).name}")
    convert(target, gguf=Path(model.location))
    config = dict(model.config, converted_dir=str(target), converted=True)
    ModelVersion.objects.filter(pk=model.pk).update(config=config)
    ctx.log(f"converted to {target}")
    return {"converted_dir": str(target)}
