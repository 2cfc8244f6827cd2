"""Training jobs: a reward model, an SFT policy or an optimised policy (DPO, PPO-ptx, RLOO)
from an export snapshot and a base model.

    job = training_start(kind="train_reward", project=p, export=snapshot, base_model=smol,
                         config={"freeze_layers": 24, "max_length": 256}, user=admin)
    job = training_start(kind="train_policy", method="ppo", project=p, export=snapshot, base_model=sft,
                         reward_model=rm, config={"steps": 20, "ptx_coef": 1.0}, user=admin)

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

from jobs.models import Job
from jobs.services import JobContext, job_create
from training.models import ModelKind, ModelVersion
from training.services.registry import model_local_dir
from training.services.runner import job_run_dir, run_trainer

TRAINERS = {
    # kind: (module, config class path, kind of model produced)
    "train_reward": ("training.ml.reward", "training.ml.reward.RewardConfig", ModelKind.REWARD),
    "train_sft": ("training.ml.sft", "training.ml.sft.SFTJobConfig", ModelKind.POLICY),
}
POLICY_TRAINERS = {
    # method of a train_policy job: (module, config class path, needs a reward model)
    "dpo": ("training.ml.dpo", "training.ml.dpo.DPOConfig", False),
    "ppo": ("training.ml.ppo", "training.ml.ppo.PPOConfig", True),
    "rloo": ("training.ml.rloo", "training.ml.rloo.RLOOConfig", True),
}
# Set by the job itself, never by the caller.
RESERVED = {"model_name_or_path", "data_path", "output_dir", "snapshot_sha256", "resume", "reward_model_path",
            "ptx_path"}
NO_COMPARISONS = ("Export v{version} has no comparisons: label some ranking tasks or import HH-RLHF comparisons, "
                  "then export again (or Retry the round).")
DEFAULT_TIME_LIMIT = 6 * 3600


def trainer_of(kind: str, method: str = "") -> tuple[str, str, str]:
    """(module, config class path, kind of model produced) of a job kind (and policy method)."""
    if kind == "train_policy":
        module, class_path, _ = POLICY_TRAINERS[method]
        return module, class_path, ModelKind.POLICY
    return TRAINERS[kind]


def _config_fields(kind: str, method: str = "") -> set[str]:
    """The trainer config's field names, read from its source: importing the trainer would load
    torch into the web process."""
    import ast
    import importlib.util

    module, class_path, _ = trainer_of(kind, method)
    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_path.rsplit(".", 1)[1])
    return {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}


def _counts(export) -> dict:
    return (export.manifest or {}).get("counts") or {}


def training_check(*, kind: str, project, export, base_model: ModelVersion, config: dict, method: str = "",
                   reward_model: ModelVersion | None = None) -> None:
    if kind not in (*TRAINERS, "train_policy"):
        raise ValidationError(f"Unknown training kind {kind!r}; choose from {', '.join([*TRAINERS, 'train_policy'])}.")
    if kind == "train_policy" and method not in POLICY_TRAINERS:
        raise ValidationError(f"Unknown policy method {method!r}; choose from {', '.join(POLICY_TRAINERS)}.")
    if export.project_id != project.pk:
        raise ValidationError("The export snapshot belongs to another project.")
    if not export.path or not Path(export.path).exists():
        raise ValidationError("The export snapshot has no files yet; wait for its export job to finish.")
    if base_model.kind != ModelKind.POLICY and kind in ("train_sft", "train_policy"):
        raise ValidationError(f"{'SFT' if kind == 'train_sft' else 'Policy training'} starts from a policy model.")
    for model in (base_model, reward_model):
        if model is not None and model.backend == "openai":
            raise ValidationError(f"{model.name} is served over HTTP; training needs local weights.")
        if model is not None:
            model_local_dir(model)  # a GGUF must be converted first
    counts = _counts(export)
    if (kind == "train_reward" or method == "dpo") and counts and not counts.get("pairs_all"):
        raise ValidationError(NO_COMPARISONS.format(version=export.version))
    if kind == "train_policy" and POLICY_TRAINERS[method][2]:
        if reward_model is None:
            raise ValidationError(f"{method.upper()} needs a reward model to score the policy's answers.")
        if reward_model.kind != ModelKind.REWARD:
            raise ValidationError(f"{reward_model.name} is not a reward model.")
    if method == "ppo" and float(config.get("ptx_coef") or 0) > 0 and counts and not counts.get("demonstrations"):
        raise ValidationError(f"PPO-ptx (ptx_coef > 0) mixes in the demonstrations of the export, and export "
                              f"v{export.version} has none: collect demonstrations, or set ptx_coef to 0.")
    training_options_check(kind=kind, method=method, config=config)


def training_options_check(*, kind: str, method: str = "", config: dict) -> None:
    """The options a caller may set for this trainer (before any export exists, e.g. for a round)."""
    if not isinstance(config, dict):
        raise ValidationError("Training options must be an object of option: value.")
    reserved = set(config) & RESERVED
    if reserved:
        raise ValidationError(f"These options are set by Ranklab: {', '.join(sorted(reserved))}.")
    unknown = set(config) - _config_fields(kind, method)
    if unknown:
        raise ValidationError(f"Unknown training options: {', '.join(sorted(unknown))}.")


def training_start(*, kind: str, project, export, base_model: ModelVersion, config: dict | None = None,
                   user=None, name: str = "", time_limit_s: int | None = None, parent_job: Job | None = None,
                   method: str = "", reward_model: ModelVersion | None = None) -> Job:
    """Queue a training job. kind "train_policy" takes `method` (dpo, ppo, rloo) and, for ppo and
    rloo, the `reward_model` that scores the policy's answers."""
    config = dict(config or {})
    training_check(kind=kind, project=project, export=export, base_model=base_model, config=config, method=method,
                   reward_model=reward_model)
    params = {"export_id": export.pk, "base_model_id": base_model.pk, "config": config, "name": name,
              "time_limit_s": time_limit_s or DEFAULT_TIME_LIMIT}
    if kind == "train_policy":
        params.update(method=method, reward_model_id=reward_model.pk if reward_model else None)
    return job_create(kind=kind, project=project, params=params, user=user, parent=parent_job)


def run_training_job(job: Job, ctx: JobContext) -> dict:
    """Handler of train_reward, train_sft and train_policy (idempotent: a rerun resumes from
    checkpoints)."""
    from exports.models import ExportSnapshot

    existing = ModelVersion.objects.filter(produced_by_job=job).first()
    if existing:  # a redelivery after the model was registered
        return {"model_version_id": existing.pk}
    method = job.params.get("method", "")
    module, _, model_kind = trainer_of(job.kind, method)
    export = ExportSnapshot.objects.get(pk=job.params["export_id"])
    base = ModelVersion.objects.get(pk=job.params["base_model_id"])
    run_dir = job_run_dir(job)
    ctx.progress(0.01, f"starting the trainer ({job.get_kind_display().lower()}, export v{export.version})")
    config = {
        **job.params.get("config", {}),
        "model_name_or_path": str(model_local_dir(base)),
        "data_path": export.path,
        "output_dir": str(run_dir / "out"),
        "snapshot_sha256": export.sha256 or None,
    }
    if job.kind == "train_reward":  # a log line per step, so the job's message counts every step (unless set)
        config.setdefault("logging_steps", 1)
    reward = None
    if job.params.get("reward_model_id"):  # DPO keeps it for the lineage only
        reward = ModelVersion.objects.get(pk=job.params["reward_model_id"])
        if POLICY_TRAINERS[method][2]:
            config["reward_model_path"] = str(model_local_dir(reward))
    done = run_trainer(ctx=ctx, module=module, config=config, run_dir=run_dir,
                       time_limit=job.params.get("time_limit_s"), progress_span=(0.02, 0.97))
    ctx.progress(0.98, "registering the model")
    label = method or job.kind.replace("train_", "")
    target = Path(settings.MODELS_DIR) / f"{label}-{run_dir.name}"
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
    name = job.params.get("name") or f"{project_slug(job)}-{label}-{job.pk}"
    lineage = {"trainer": module, "training_config": config}
    if method:
        lineage.update(method=method, reward_model_id=reward.pk if reward else None)
    with transaction.atomic():
        model = ModelVersion.objects.create(
            name=name, kind=model_kind, parent=base, backend="transformers", location=str(target),
            config=lineage, metrics=metrics, produced_by_job=job, export_snapshot=export,
        )
    ctx.log(f"registered {model.name} at {target}")
    return {"model_version_id": model.pk, "metrics": metrics}


def project_slug(job: Job) -> str:
    from django.utils.text import slugify

    return slugify(job.project.name)[:40] if job.project_id else "model"
