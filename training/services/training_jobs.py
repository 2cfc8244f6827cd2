"""Training jobs: a reward model or an SFT policy from an export snapshot and a base model.

    job = training_start(kind="train_reward", project=p, export=snapshot, base_model=smol,
                         config={"freeze_layers": 24, "max_length": 256}, user=admin)

The handler runs the trainer of training/ml as a subprocess (training/services/runner.py),
moves the finished model into the models directory and registers it as a ModelVersion whose
parent, job and export snapshot record where it came from.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from training.models import Job, ModelKind, ModelVersion
from training.services.jobs import JobContext, job_create
from training.services.registry import model_local_dir
from training.services.runner import job_run_dir, run_trainer

TRAINERS = {
    # kind: (module, config class path, kind of model produced)
    "train_reward": ("training.ml.reward", "training.ml.reward.RewardConfig", ModelKind.REWARD),
    "train_sft": ("training.ml.sft", "training.ml.sft.SFTJobConfig", ModelKind.POLICY),
}
# Set by the job itself, never by the caller.
RESERVED = {"model_name_or_path", "data_path", "output_dir", "snapshot_sha256", "resume"}
DEFAULT_TIME_LIMIT = 6 * 3600


def _config_fields(kind: str) -> set[str]:
    """The trainer config's field names, read from its source: importing the trainer would load
    torch into the web process."""
    import ast
    import importlib.util

    module, class_path, _ = TRAINERS[kind]
    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_path.rsplit(".", 1)[1])
    return {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}


def training_check(*, kind: str, project, export, base_model: ModelVersion, config: dict) -> None:
    if kind not in TRAINERS:
        raise ValidationError(f"Unknown training kind {kind!r}; choose from {', '.join(TRAINERS)}.")
    if export.project_id != project.pk:
        raise ValidationError("The export snapshot belongs to another project.")
    if not export.path or not Path(export.path).exists():
        raise ValidationError("The export snapshot has no files yet; wait for its export job to finish.")
    if base_model.kind != ModelKind.POLICY and kind == "train_sft":
        raise ValidationError("SFT starts from a policy model.")
    if base_model.backend == "openai":
        raise ValidationError(f"{base_model.name} is served over HTTP; training needs local weights.")
    unknown = set(config) - _config_fields(kind)
    if unknown:
        raise ValidationError(f"Unknown training options: {', '.join(sorted(unknown))}.")
    reserved = set(config) & RESERVED
    if reserved:
        raise ValidationError(f"These options are set by Ranklab: {', '.join(sorted(reserved))}.")


def training_start(*, kind: str, project, export, base_model: ModelVersion, config: dict | None = None,
                   user=None, name: str = "", time_limit_s: int | None = None, parent_job: Job | None = None) -> Job:
    config = dict(config or {})
    training_check(kind=kind, project=project, export=export, base_model=base_model, config=config)
    params = {"export_id": export.pk, "base_model_id": base_model.pk, "config": config, "name": name,
              "time_limit_s": time_limit_s or DEFAULT_TIME_LIMIT}
    return job_create(kind=kind, project=project, params=params, user=user, parent=parent_job)


def run_training_job(job: Job, ctx: JobContext) -> dict:
    """Handler of train_reward and train_sft (idempotent: a rerun resumes from checkpoints)."""
    from exports.models import ExportSnapshot

    existing = ModelVersion.objects.filter(produced_by_job=job).first()
    if existing:  # a redelivery after the model was registered
        return {"model_version_id": existing.pk}
    module, _, model_kind = TRAINERS[job.kind]
    export = ExportSnapshot.objects.get(pk=job.params["export_id"])
    base = ModelVersion.objects.get(pk=job.params["base_model_id"])
    run_dir = job_run_dir(job)
    ctx.progress(0.01, f"preparing {job.get_kind_display().lower()} on export v{export.version}")
    config = {
        **job.params.get("config", {}),
        "model_name_or_path": str(model_local_dir(base)),
        "data_path": export.path,
        "output_dir": str(run_dir / "out"),
        "snapshot_sha256": export.sha256 or None,
    }
    done = run_trainer(ctx=ctx, module=module, config=config, run_dir=run_dir,
                       time_limit=job.params.get("time_limit_s"), progress_span=(0.02, 0.97))
    ctx.progress(0.98, "registering the model")
    target = Path(settings.MODELS_DIR) / f"{job.kind.replace('train_', '')}-{run_dir.name}"
    source = Path(done["model_dir"])
    if source.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        os.replace(source, target) if source.stat().st_dev == target.parent.stat().st_dev else shutil.move(source, target)
    metrics = dict(done.get("metrics") or {})
    agreement = ((export.manifest or {}).get("counts", {}).get("agreement") or {}).get("mean_task_agreement")
    if agreement is not None:
        metrics["labeler_agreement"] = agreement
    name = job.params.get("name") or f"{project_slug(job)}-{job.kind.replace('train_', '')}-{job.pk}"
    with transaction.atomic():
        model = ModelVersion.objects.create(
            name=name, kind=model_kind, parent=base, backend="transformers", location=str(target),
            config={"trainer": module, "training_config": config}, metrics=metrics, produced_by_job=job,
            export_snapshot=export,
        )
    ctx.log(f"registered {model.name} at {target}")
    return {"model_version_id": model.pk, "metrics": metrics}


def project_slug(job: Job) -> str:
    from django.utils.text import slugify

    return slugify(job.project.name)[:40] if job.project_id else "model"
