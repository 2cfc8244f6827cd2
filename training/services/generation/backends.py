"""The sampler behind a ModelVersion, in a worker process: a local transformers model (loaded
once per process and kept, within RANKLAB_GENERATION_CACHE_MB of weights) or a client of an
OpenAI-compatible endpoint. Both yield (prompt index, samples) from `.sample(...)`."""
from __future__ import annotations

import os
import time
from pathlib import Path

from django.core.exceptions import ValidationError

from jobs.models import Job, JobStatus
from training.models import Backend, ModelVersion

CACHE_BYTES = int(os.environ.get("RANKLAB_GENERATION_CACHE_MB", "4096")) * 2**20
CONVERT_WAIT_S = 30 * 60
# Threads per worker process for local sampling. On a shared CPU, set it to cores / worker
# processes: oversubscribed OpenMP threads spin and can run 6x slower (docs/benchmarks.md).
TORCH_THREADS = int(os.environ.get("RANKLAB_TORCH_THREADS", "0"))


def endpoint_client(model: ModelVersion):
    from training.ml.openai_client import EndpointClient, EndpointConfig

    c = model.config or {}
    return EndpointClient(EndpointConfig(
        base_url=model.location, model=model.endpoint_model, api_key=model.api_key,
        timeout=float(c.get("timeout", 120)), max_retries=int(c.get("max_retries", 3)),
        backoff=float(c.get("backoff", 0.5)), concurrency=int(c.get("concurrency", 4)),
    ))


def _ensure_converted(model: ModelVersion, ctx=None) -> ModelVersion:
    """A GGUF model's transformers directory: wait for its queued convert job, or convert here."""
    from training.ml.bundled import convert

    deadline = time.monotonic() + CONVERT_WAIT_S
    while not model.config.get("converted"):
        pending = Job.objects.filter(kind="convert_model", params__model_version_id=model.pk,
                                     status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists()
        if not pending or time.monotonic() > deadline:
            target = Path(model.config.get("converted_dir") or Path(model.location).with_suffix(""))
            if ctx:
                ctx.log(f"converting {Path(model.location).name} to {target}")
            convert(target, gguf=Path(model.location))
            model.config = dict(model.config, converted_dir=str(target), converted=True)
            ModelVersion.objects.filter(pk=model.pk).update(config=model.config)
            break
        if ctx:
            ctx.progress(0.0, f"waiting for {model.name} to be converted from GGUF")
        time.sleep(2)
        model.refresh_from_db()
    return model


def sampler_for(model: ModelVersion, ctx=None):
    """The object that samples from `model` in this process."""
    if model.backend == Backend.OPENAI:
        return endpoint_client(model)
    import torch

    from training.ml.generate import generator_get
    from training.services.registry import model_local_dir

    if TORCH_THREADS and torch.get_num_threads() != TORCH_THREADS:
        torch.set_num_threads(TORCH_THREADS)

    if model.backend == Backend.GGUF:
        model = _ensure_converted(model, ctx)
    path = model_local_dir(model)
    if not path.exists():
        raise ValidationError(f"{model.name}: {path} no longer exists on the worker.")
    return generator_get(path, max_bytes=CACHE_BYTES, tokenizer_dir=(model.config or {}).get("tokenizer_dir"))


def secrets_of(models) -> list[str]:
    return [m.api_key for m in models if m.api_key]


def redact_all(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return text
