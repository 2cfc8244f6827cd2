"""Starting generation and suggestion jobs: validation and prompt selection (web side; cheap)."""
from __future__ import annotations

import random
import secrets
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from annotate.models import Project, Prompt, Task, TaskKind, TaskState, validate_conversation
from jobs.models import Job
from training.models import ModelKind, ModelVersion

SELECTION_MODES = ("unused", "tag", "sample", "ids")
SAMPLING_DEFAULTS = {"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 256}
SUGGEST_DEFAULTS = {"temperature": 0.7, "top_p": 0.95, "max_new_tokens": 256}
MAX_PROMPTS_PER_JOB = 20_000


def sampling_params_clean(params: dict, defaults: dict = SAMPLING_DEFAULTS) -> dict:
    """The sampling parameters of a job, checked: temperature, top_p, max_new_tokens."""
    from training.ml.generate import SamplingConfig

    out = {}
    for key, default in defaults.items():
        value = params.get(key, default)
        try:
            out[key] = int(value) if key == "max_new_tokens" else float(value)
        except (TypeError, ValueError):
            raise ValidationError(f"{key} must be a number, got {value!r}.")
    try:
        SamplingConfig(**out).validate()
    except ValueError as exc:
        raise ValidationError(str(exc))
    return out


def _unused(project: Project):
    """Prompts with no live ranking task yet."""
    used = Task.objects.filter(project=project, kind=TaskKind.RANKING).exclude(state=TaskState.CANCELLED)
    return project.prompts.exclude(pk__in=used.values("prompt_id"))


def prompts_select(*, project: Project, mode: str = "unused", tag: str = "", n: int | None = None,
                   prompt_ids: Iterable[int] | None = None, seed: int = 0, include_used: bool = False) -> list[int]:
    """Prompt ids to generate for, in a fixed order.

    unused: prompts without a ranking task (oldest first); tag: those carrying `tag`;
    sample: a random sample of n (seeded); ids: exactly `prompt_ids`, in order (the queue a
    training round hands over). n caps every mode."""
    if mode not in SELECTION_MODES:
        raise ValidationError(f"Unknown selection {mode!r}; choose from {', '.join(SELECTION_MODES)}.")
    if n is not None and int(n) < 1:
        raise ValidationError("n must be at least 1.")
    if mode == "ids":
        ids = [int(i) for i in (prompt_ids or [])]
        if not ids:
            raise ValidationError("Give the prompt ids to generate for.")
        found = set(project.prompts.filter(pk__in=ids).values_list("pk", flat=True))
        missing = [i for i in ids if i not in found]
        if missing:
            raise ValidationError(f"Prompts {missing[:10]} are not in project {project.name!r}.")
        ids = list(dict.fromkeys(ids))
    else:
        base = project.prompts.all() if include_used else _unused(project)
        rows = base.order_by("pk").values_list("pk", "tags")
        if mode == "tag":
            if not tag:
                raise ValidationError("Name the tag to select prompts by.")
            ids = [pk for pk, tags in rows if tag in (tags or [])]
        else:
            ids = [pk for pk, _ in rows]
        if mode == "sample":
            if n is None:
                raise ValidationError("A random sample needs its size n.")
            ids = random.Random(seed).sample(ids, min(int(n), len(ids)))
    if n is not None:
        ids = ids[: int(n)]
    if not ids:
        raise ValidationError(f"No prompts match (selection {mode!r}{f', tag {tag!r}' if tag else ''}).")
    if len(ids) > MAX_PROMPTS_PER_JOB:
        raise ValidationError(f"{len(ids)} prompts is more than one job takes ({MAX_PROMPTS_PER_JOB}); use n.")
    return ids


def _models_check(model_versions: Iterable[ModelVersion | int]) -> list[ModelVersion]:
    ids = [m.pk if isinstance(m, ModelVersion) else int(m) for m in model_versions]
    if not ids:
        raise ValidationError("Choose at least one model version to sample from.")
    if len(set(ids)) != len(ids):
        raise ValidationError("A model version is listed twice.")
    found = {m.pk: m for m in ModelVersion.objects.filter(pk__in=ids)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationError(f"Unknown model versions {missing}.")
    models = [found[i] for i in ids]
    for m in models:
        if m.kind != ModelKind.POLICY:
            raise ValidationError(f"{m.name} is a reward model; only policies write answers.")
    return models


@transaction.atomic
def generation_start(*, project: Project, model_versions: Iterable[ModelVersion | int], k: int | None = None,
                     prompts=None, params: dict | None = None, user=None, selection: dict | None = None) -> Job:
    """Queue a "generate" job: K candidates per prompt from the given models (slot s of K
    comes from model s mod M), one ranking task per prompt (and a demonstration task with
    the first candidate as suggestion when params["demonstrations"] is true).

    prompts: a queryset or ids (kept in order); otherwise `selection` (or params["selection"])
    = {"mode": unused|tag|sample|ids, "tag", "n", "prompt_ids"}; default: unused prompts.
    params: temperature, top_p, max_new_tokens, seed, demonstrations, priority (of the tasks in the
    labelers' queue), demonstration_priority (default: priority), max_resample_tries, chunk_prompts,
    max_batch_rows.
    The selection is frozen into the job, so a resumed job works on the same prompts."""
    params = dict(params or {})
    k = int(k or params.get("k") or project.k)
    if not 2 <= k <= 9:
        raise ValidationError(f"K must be between 2 and 9, got {k}.")
    if TaskKind.RANKING not in project.task_kinds:
        raise ValidationError(f"Project {project.name!r} does not collect rankings.")
    models = _models_check(model_versions)
    if len(models) > k:
        raise ValidationError(f"K={k} is fewer than the {len(models)} models; each model needs a candidate per prompt.")
    demonstrations = bool(params.get("demonstrations", False))
    if demonstrations and TaskKind.DEMONSTRATION not in project.task_kinds:
        raise ValidationError(f"Project {project.name!r} does not collect demonstrations.")
    sampling = sampling_params_clean(params)
    seed = int(params["seed"]) if params.get("seed") not in (None, "") else secrets.randbits(31)
    selection = dict(selection or params.get("selection") or {})
    if prompts is not None:
        ids = [p.pk if isinstance(p, Prompt) else int(p) for p in prompts]
        selection = {"mode": "ids"}
        ids = prompts_select(project=project, mode="ids", prompt_ids=ids)
    else:
        selection.setdefault("mode", "unused")
        ids = prompts_select(project=project, mode=selection["mode"], tag=selection.get("tag", ""),
                             n=selection.get("n"), prompt_ids=selection.get("prompt_ids"), seed=seed)
    job_params = {
        **sampling, "k": k, "seed": seed, "model_version_ids": [m.pk for m in models], "prompt_ids": ids,
        "selection": {key: selection[key] for key in ("mode", "tag", "n") if key in selection},
        "demonstrations": demonstrations, "priority": float(params.get("priority", 0.0)),
        "demonstration_priority": float(params.get("demonstration_priority", params.get("priority", 0.0))),
        "max_resample_tries": min(10, max(0, int(params.get("max_resample_tries", 3)))),
        "chunk_prompts": min(256, max(1, int(params.get("chunk_prompts", 16)))),
        "max_batch_rows": min(512, max(1, int(params.get("max_batch_rows", 64)))),
    }
    from jobs.services import job_create

    return job_create(kind="generate", project=project, params=job_params, user=user)


def suggest_model_default(project: Project | None) -> ModelVersion:
    if project is not None:
        model = project.sampling_models.filter(kind=ModelKind.POLICY).order_by("-created_at").first()
        if model:
            return model
    model = ModelVersion.objects.filter(is_bundled=True).first()
    if model is None:
        raise ValidationError("No model to ask: register one and choose it for the project.")
    return model


@transaction.atomic
def suggestion_start(*, user, conversation: list[dict], project: Project | None = None,
                     model_version: ModelVersion | None = None, stream: bool = False, params: dict | None = None) -> Job:
    """Queue a "suggest" job: one answer to the conversation (ending with a user turn).
    With stream=True the worker writes the text so far into job.result as it goes
    ({"text", "partial": true}); the final result is {"text", "model_version_id", "seed", ...}.
    Who may ask (project members; the playground is for admins) is checked by the caller."""
    try:
        validate_conversation(conversation)
    except ValidationError as exc:
        raise ValidationError(f"Invalid conversation: {' '.join(exc.messages)}")
    if model_version is None and project is None:
        raise ValidationError("Name a project or a model version.")
    model = model_version or suggest_model_default(project)
    if model.kind != ModelKind.POLICY:
        raise ValidationError(f"{model.name} is a reward model; only policies write answers.")
    params = dict(params or {})
    sampling = sampling_params_clean(params, SUGGEST_DEFAULTS)
    seed = int(params["seed"]) if params.get("seed") not in (None, "") else secrets.randbits(31)
    from jobs.services import job_create

    return job_create(kind="suggest", project=project, user=user, params={
        "conversation": conversation, "project_id": project.pk if project else None,
        "model_version_id": model.pk, "stream": bool(stream), "seed": seed, **sampling,
    })


def suggestion_for_labeler(*, user, conversation: list[dict], project: Project) -> Job:
    """A labeler's suggestion in the workspace (annotate.services.suggestions calls it; registered
    in TrainingConfig.ready): SuggestionsUnavailable when the project has no model to ask."""
    from annotate.services.suggestions import SuggestionsUnavailable

    try:
        suggest_model_default(project)
    except ValidationError as exc:
        raise SuggestionsUnavailable(f"Model suggestions are unavailable: {' '.join(exc.messages)}") from None
    return suggestion_start(user=user, conversation=conversation, project=project)


def selection_count(*, project: Project, selection: dict) -> int:
    """How many prompts a selection covers now (what generation_start would queue); a selection
    that covers none raises, with the same sentence as generation_start."""
    return len(prompts_select(project=project, mode=selection.get("mode", "unused"), tag=selection.get("tag", ""),
                              n=selection.get("n"), prompt_ids=selection.get("prompt_ids")))
