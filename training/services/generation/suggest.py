"""The "suggest" job: one model answer to a conversation, for the labeler workspace (a draft
dialogue turn or demonstration) and the admin playground (streamed into job.result)."""
from __future__ import annotations

import secrets
import time

from django.core.exceptions import ValidationError

from annotate.models import Project, validate_conversation
from jobs.models import Job
from jobs.services import JobContext
from training.models import ModelVersion
from training.services.generation.backends import redact_all, sampler_for
from training.services.generation.start import SUGGEST_DEFAULTS, sampling_params_clean, suggest_model_default

STREAM_EVERY_S = 0.15


def suggest(job: Job, ctx: JobContext) -> dict:
    """params: conversation, project_id, optional model_version_id, stream, seed, sampling.
    result: {"text", "model_version_id", "model", "seed", "sampling_params", "finish_reason"}."""
    from training.ml.generate import SamplingConfig, throttle

    p = job.params
    conversation = p.get("conversation")
    validate_conversation(conversation)
    if p.get("model_version_id"):
        model = ModelVersion.objects.get(pk=p["model_version_id"])
    else:
        project = Project.objects.filter(pk=p.get("project_id")).first()
        if project is None:
            raise ValidationError("A suggestion needs a project or a model version.")
        model = suggest_model_default(project)
    sampling = sampling_params_clean(p, SUGGEST_DEFAULTS)
    seed = int(p["seed"]) if p.get("seed") not in (None, "") else secrets.randbits(31)
    cfg = SamplingConfig(**sampling, max_batch_rows=1)
    ctx.progress(0.05, f"loading {model.name}")
    try:
        sampler = sampler_for(model, ctx)
        ctx.progress(0.1, "writing")
        last = [0.0]

        def on_text(_i: int, _s: int, text: str) -> None:
            now = time.monotonic()
            if now - last[0] >= STREAM_EVERY_S:
                last[0] = now
                Job.objects.filter(pk=job.pk).update(result={"text": text, "partial": True})

        stream = on_text if p.get("stream") else None
        (_, samples), = list(sampler.sample([conversation], [[seed]], cfg, on_step=throttle(ctx.check_cancel, 0.5),
                                            on_text=stream))
    except ValidationError:
        raise
    except Exception as exc:
        raise RuntimeError(redact_all(f"{model.name} could not answer: {exc}", [model.api_key] if model.api_key else [])) from None
    sample = samples[0]
    return {"text": sample.text, "model_version_id": model.pk, "model": model.name, "seed": sample.seed,
            "sampling_params": sampling, "finish_reason": sample.finish_reason, "new_tokens": sample.new_tokens}
