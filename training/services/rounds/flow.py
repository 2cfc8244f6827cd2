"""Rounds: one turn of the loop, as a chain of ordinary jobs.

    rnd = round_start(project=p, method="dpo", base_policy=sft, user=admin,
                      params={"policy_config": {"beta": 0.1}, "generation": {"n_prompts": 50}})

export → train reward model → train (and register) the policy → evaluate it against its parent
→ generate the next candidates from the new policy mixed with its parent → optional blind
old-vs-new pairwise tasks → optional active-learning order of the new tasks.

No worker waits for another job: each step is a Job, and `round_job_finished` (a job
finished-hook, run in the worker after every job and by the sweeper for jobs it fails) records
the step's artifact on the round and queues the next step. A failed step stops the round with a
message that says what to do; `round_retry` runs that step again (the same job, resuming from
its checkpoints, when the job itself failed; a fresh one otherwise). The hook is idempotent: it
acts only while the job is still the round's current job, under the round's row lock.
"""
from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from annotate.models import Project, Prompt, Task, TaskKind, TaskState
from jobs.models import Job, JobStatus
from jobs.services import job_cancel, job_create, job_retry
from training.models import STEP_ORDER, ModelKind, ModelVersion, PolicyMethod, QueueMode, Round, RoundStatus, RoundStep

logger = logging.getLogger(__name__)

DEFAULTS = {
    "export_options": {"formats": ["ranked_groups", "preference", "sft_messages"]},
    "reward_config": {},
    "policy_config": {},
    "evaluate": True,
    "evaluation": {},
    "generation": {"n_prompts": 32, "k": None, "temperature": 1.0, "max_new_tokens": 128, "priority": 0.0},
    "pairwise_n": 0,
    # Hold the round before the policy step when the reward model has not learned (see _rm_verdict).
    "rm_check": True,
}
ADVICE = {
    RoundStep.EXPORT: "Check the export options on the job page",
    RoundStep.REWARD: "Read the reward-model job's log (a smaller max_length or batch_size helps with memory)",
    RoundStep.POLICY: "Read the policy job's log (fewer steps, shorter answers or freeze_layers help on CPU)",
    RoundStep.EVALUATE: "Read the evaluation job's log",
    RoundStep.GENERATE: "Read the generation job's log",
    RoundStep.PAIRWISE: "Read the generation job's log",
    RoundStep.PRIORITISE: "Read the prioritise job's log",
}


class StepError(Exception):
    """A step's job succeeded but its result cannot carry the round on (e.g. no comparisons)."""


# ---------------------------------------------------------------- starting

def _params_clean(params: dict | None, method: str) -> dict:
    from training.services.evaluation import evaluation_params_clean
    from training.services.training_jobs import training_options_check

    params = dict(params or {})
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ValidationError(f"Unknown round options: {', '.join(sorted(unknown))}; known: {', '.join(DEFAULTS)}.")
    out = {**DEFAULTS, **params}
    out["generation"] = {**DEFAULTS["generation"], **(params.get("generation") or {})}
    training_options_check(kind="train_reward", config=out["reward_config"])
    training_options_check(kind="train_policy", method=method, config=out["policy_config"])
    evaluation_params_clean(out["evaluation"])
    gen = out["generation"]
    try:
        gen["n_prompts"] = int(gen["n_prompts"])
        out["pairwise_n"] = int(out["pairwise_n"])
    except (TypeError, ValueError):
        raise ValidationError("generation.n_prompts and pairwise_n must be whole numbers.")
    if gen["n_prompts"] < 1 or out["pairwise_n"] < 0:
        raise ValidationError("generation.n_prompts must be at least 1 and pairwise_n cannot be negative.")
    return out


def round_previous(project: Project, before: int | None = None) -> Round | None:
    rounds = project.rounds.filter(status=RoundStatus.SUCCEEDED, policy_model__isnull=False)
    if before is not None:
        rounds = rounds.filter(number__lt=before)
    return rounds.order_by("-number").first()


def base_policy_default(project: Project) -> ModelVersion:
    """The last round's policy, else the newest policy the project samples from."""
    previous = round_previous(project)
    if previous:
        return previous.policy_model
    model = project.sampling_models.filter(kind=ModelKind.POLICY).exclude(backend="openai").order_by(
        "-created_at").first()
    if model is None:
        raise ValidationError("Choose the policy this round starts from (no earlier round, and the project samples "
                              "from no local policy).")
    return model


def round_check(*, project: Project, method: str, base_policy: ModelVersion, reward_base: ModelVersion | None,
                queue_mode: str, export=None, reward_model: ModelVersion | None = None) -> None:
    from training.services.registry import model_local_dir

    if method not in PolicyMethod.values:
        raise ValidationError(f"Unknown method {method!r}; choose from {', '.join(PolicyMethod.values)}.")
    if queue_mode not in QueueMode.values:
        raise ValidationError(f"Unknown queue order {queue_mode!r}; choose from {', '.join(QueueMode.values)}.")
    if TaskKind.RANKING not in project.task_kinds:
        raise ValidationError(f"Project {project.name!r} does not collect rankings.")
    if base_policy.kind != ModelKind.POLICY:
        raise ValidationError(f"{base_policy.name} is a reward model; a round starts from a policy.")
    for model in (base_policy, reward_base, reward_model):
        if model is not None:
            if model.backend == "openai":
                raise ValidationError(f"{model.name} is served over HTTP; a round trains local weights.")
            model_local_dir(model)
    if reward_model is not None and reward_model.kind != ModelKind.REWARD:
        raise ValidationError(f"{reward_model.name} is not a reward model.")
    if export is not None and (export.project_id != project.pk or not export.path):
        raise ValidationError("The export snapshot must be a finished export of this project.")
    if queue_mode == QueueMode.RM_DISAGREEMENT and round_previous(project) is None:
        raise ValidationError("Ordering by the disagreement of two reward models needs an earlier round's reward "
                              "model; choose another order for the first round.")
    running = project.rounds.filter(status=RoundStatus.RUNNING).first()
    if running:
        raise ValidationError(f"Round {running.number} is still running: wait for it to finish or cancel it.")


def round_start(*, project: Project, method: str = PolicyMethod.DPO, base_policy: ModelVersion | None = None,
                reward_base: ModelVersion | None = None, queue_mode: str = QueueMode.NONE, params: dict | None = None,
                export=None, reward_model: ModelVersion | None = None, user=None) -> Round:
    """Start the next round: its first step's job is queued when the transaction commits. An
    `export` or `reward_model` given is used as is and its step skipped."""
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project.pk)
        base_policy = base_policy or base_policy_default(project)
        round_check(project=project, method=method, base_policy=base_policy, reward_base=reward_base,
                    queue_mode=queue_mode, export=export, reward_model=reward_model)
        clean = _params_clean(params, method)
        number = (project.rounds.aggregate(n=Max("number"))["n"] or 0) + 1
        rnd = Round.objects.create(project=project, number=number, method=method, params=clean,
                                   base_policy=base_policy, reward_base=reward_base, queue_mode=queue_mode,
                                   export=export, reward_model=reward_model, created_by=user)
        _advance(rnd, after=None)
    return rnd


# ---------------------------------------------------------------- the steps

def _skipped(rnd: Round, step: str) -> bool:
    return {
        RoundStep.EXPORT: rnd.export_id is not None and rnd.export_job_id is None,
        RoundStep.REWARD: rnd.reward_model_id is not None and rnd.reward_job_id is None,
        RoundStep.EVALUATE: not rnd.params.get("evaluate", True),
        RoundStep.PAIRWISE: not rnd.params.get("pairwise_n"),
        RoundStep.PRIORITISE: rnd.queue_mode == QueueMode.NONE,
    }.get(step, False)


def _pairwise_prompt_ids(rnd: Round) -> list[int]:
    """Held-out prompts (the export's test split, by the prompts' own split key) for the blind
    old-vs-new tasks; kept out of the generation step so both can run."""
    n = int(rnd.params.get("pairwise_n") or 0)
    if not n:
        return []
    ratio = float(((rnd.export.manifest or {}).get("options") or {}).get("test_ratio", 0.1)) if rnd.export else 0.1
    return list(rnd.project.prompts.filter(split_key__lt=ratio).order_by("pk").values_list("pk", flat=True)[:n])


def _generation_prompt_ids(rnd: Round, n: int) -> list[int]:
    """Prompts without a ranking task first (oldest first), then the others; none of the pairwise ones."""
    exclude = set(rnd.params.get("pairwise_prompt_ids") or [])
    used = set(Task.objects.filter(project=rnd.project, kind=TaskKind.RANKING).exclude(
        state=TaskState.CANCELLED).values_list("prompt_id", flat=True))
    all_ids = [pk for pk in Prompt.objects.filter(project=rnd.project).order_by("pk").values_list("pk", flat=True)
               if pk not in exclude]
    ids = [pk for pk in all_ids if pk not in used] + [pk for pk in all_ids if pk in used]
    return ids[:n]


def _start(rnd: Round, step: str) -> Job:
    from exports.services.snapshots import export_start
    from training.services.evaluation import evaluation_start
    from training.services.generation.start import generation_start
    from training.services.training_jobs import training_start

    p, user, project = rnd.params, rnd.created_by, rnd.project
    if step == RoundStep.EXPORT:
        return export_start(project=project, options=p["export_options"], user=user)
    if step == RoundStep.REWARD:
        return training_start(kind="train_reward", project=project, export=rnd.export, user=user,
                              base_model=rnd.reward_base or rnd.base_policy, config=p["reward_config"],
                              name=f"{project_slug(rnd)}-r{rnd.number}-reward")
    if step == RoundStep.POLICY:
        return training_start(kind="train_policy", method=rnd.method, project=project, export=rnd.export, user=user,
                              base_model=rnd.base_policy, reward_model=rnd.reward_model, config=p["policy_config"],
                              name=f"{project_slug(rnd)}-r{rnd.number}-{rnd.method}")
    if step == RoundStep.EVALUATE:
        if rnd.reward_model is None:
            raise StepError("Evaluation needs the round's reward model.")
        return evaluation_start(project=project, policy=rnd.policy_model, parent=rnd.base_policy,
                                reward_model=rnd.reward_model, export=rnd.export, params=p["evaluation"], user=user)
    if step == RoundStep.GENERATE:
        gen = dict(p["generation"])
        rnd.params = {**p, "pairwise_prompt_ids": _pairwise_prompt_ids(rnd)}
        ids = _generation_prompt_ids(rnd, gen.pop("n_prompts"))
        if not ids:
            raise StepError("The project has no prompts to generate for: add or import prompts, then Retry.")
        return generation_start(project=project, model_versions=[rnd.policy_model, rnd.base_policy],
                                k=gen.pop("k") or None, prompts=ids, params=gen, user=user)
    if step == RoundStep.PAIRWISE:
        ids = p.get("pairwise_prompt_ids") or []
        if not ids:
            raise StepError("No held-out (test split) prompts for the old-vs-new tasks: add prompts, or set "
                            "pairwise_n to 0, then Retry.")
        gen = {k: v for k, v in p["generation"].items() if k in ("temperature", "max_new_tokens", "priority")}
        return generation_start(project=project, model_versions=[rnd.policy_model, rnd.base_policy], k=2,
                                prompts=ids, params=gen, user=user)
    if step == RoundStep.PRIORITISE:
        return job_create(kind="prioritise", project=project, user=user,
                          params={"round_id": rnd.pk, "mode": rnd.queue_mode})
    raise ValueError(step)


def _absorb(rnd: Round, step: str, job: Job) -> None:
    """Record what the finished step made; raise StepError when the round cannot go on."""
    from exports.models import ExportSnapshot
    from training.services.training_jobs import NO_COMPARISONS

    if step == RoundStep.EXPORT:
        export = ExportSnapshot.objects.get(job=job)
        if not ((export.manifest or {}).get("counts") or {}).get("pairs_all"):
            raise StepError(NO_COMPARISONS.format(version=export.version).replace(
                "then export again (or Retry the round)", "then Retry"))
        rnd.export = export
    elif step in (RoundStep.REWARD, RoundStep.POLICY):
        model = ModelVersion.objects.filter(produced_by_job=job).first()
        if model is None:
            raise StepError(f"Job {job.pk} finished without registering a model; Retry.")
        setattr(rnd, "reward_model" if step == RoundStep.REWARD else "policy_model", model)
    elif step == RoundStep.EVALUATE:
        rnd.evaluation = job.result
    elif step == RoundStep.PRIORITISE:
        rnd.queue_order = job.result.get("order", [])


def _advance(rnd: Round, after: str | None) -> None:
    """Queue the first step after `after` that is not skipped, or finish the round. Call inside
    a transaction holding the round's row lock (or creating the round)."""
    index = 0 if after is None else STEP_ORDER.index(after) + 1
    for step in STEP_ORDER[index:]:
        if _skipped(rnd, step):
            continue
        rnd.step, rnd.error = step, ""
        try:
            with transaction.atomic():
                job = _start(rnd, step)
        except (ValidationError, StepError) as exc:
            _fail(rnd, step, _message(exc))
            return
        rnd.current_job = job
        setattr(rnd, f"{step}_job", job)
        rnd.save()
        return
    rnd.step, rnd.status, rnd.current_job, rnd.finished_at = RoundStep.DONE, RoundStatus.SUCCEEDED, None, timezone.now()
    rnd.save()


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


def _fail(rnd: Round, step: str, message: str, status: str = RoundStatus.FAILED) -> None:
    rnd.step, rnd.status, rnd.error, rnd.finished_at = step, status, message, timezone.now()
    rnd.save()


def round_job_finished(job: Job) -> None:
    """The job finished-hook: carry the round on from a step's job that just finished."""
    if not Round.objects.filter(current_job_id=job.pk, status=RoundStatus.RUNNING).exists():
        return
    with transaction.atomic():
        rnd = Round.objects.select_for_update().filter(current_job_id=job.pk, status=RoundStatus.RUNNING).first()
        if rnd is None:
            return
        step, label = rnd.step, RoundStep(rnd.step).label
        job.refresh_from_db()
        if job.status == JobStatus.CANCELLED:
            _fail(rnd, step, f"The {label.lower()} job {job.pk} was cancelled; Retry to run it again.",
                  RoundStatus.CANCELLED)
        elif job.status == JobStatus.FAILED:
            _fail(rnd, step, f"The {label.lower()} step failed: {job.error or 'no error recorded'}. "
                             f"{ADVICE.get(step, 'Read the job log')} (job {job.pk}), then Retry.")
        elif job.status == JobStatus.SUCCEEDED:
            try:
                _absorb(rnd, step, job)
            except StepError as exc:
                _fail(rnd, step, str(exc))
                return
            except Exception as exc:  # never leave a round "running" with nothing running
                logger.exception("round %s: step %s", rnd.pk, step)
                _fail(rnd, step, f"Could not read the result of job {job.pk}: {type(exc).__name__}: {exc}. "
                                 "Retry runs this step again.")
                return
            if step == RoundStep.REWARD and (held := _rm_verdict(rnd)):
                _fail(rnd, step, held, RoundStatus.HELD)
                return
            try:
                with transaction.atomic():
                    _advance(rnd, after=step)
            except Exception as exc:
                logger.exception("round %s: after step %s", rnd.pk, step)
                rnd.refresh_from_db()
                following = STEP_ORDER[STEP_ORDER.index(step) + 1] if step != STEP_ORDER[-1] else step
                _fail(rnd, following, f"Could not start the step after {label.lower()}: {type(exc).__name__}: "
                                      f"{exc}. Retry starts it again.")


def _rm_verdict(rnd: Round) -> str:
    """Why the round must not train a policy on its reward model ("" when it may): held-out
    accuracy below the project's threshold, or a 95 % Wilson interval that includes chance."""
    from training.models import ProjectLoop
    from training.services.evaluation import wilson_interval

    if not rnd.params.get("rm_check", True) or rnd.reward_model is None:
        return ""
    metrics = rnd.reward_model.metrics or {}
    accuracy, pairs = metrics.get("eval_accuracy"), int(metrics.get("eval_pairs") or 0)
    loop = ProjectLoop.objects.filter(project=rnd.project_id).first()
    threshold = loop.rm_min_accuracy if loop else ProjectLoop._meta.get_field("rm_min_accuracy").default
    advice = ("Label more comparisons (or add held-out prompts), train the reward model for more steps, or choose "
              "another preset, then start a new round; or continue anyway to train the policy on this reward model.")
    if accuracy is None or not pairs:
        return f"The reward model has no held-out accuracy (no test-split comparisons), so nobody knows it learned. {advice}"
    low, high = wilson_interval(accuracy * pairs, pairs)
    if accuracy < threshold:
        return (f"The reward model's held-out accuracy is {accuracy:.0%} on {pairs} pairs (95 % interval "
                f"{low:.0%}–{high:.0%}), below this project's threshold of {threshold:.0%}. {advice}")
    if low <= 0.5 <= high:
        return (f"The reward model's held-out accuracy is {accuracy:.0%} on {pairs} pairs, but its 95 % interval "
                f"{low:.0%}–{high:.0%} includes chance (50 %). {advice}")
    return ""


def _refuse_while_another_runs(rnd: Round) -> None:
    """One round of a project runs at a time (retry and continue anyway check it under the round's lock)."""
    running = rnd.project.rounds.filter(status=RoundStatus.RUNNING).exclude(pk=rnd.pk).first()
    if running:
        raise ValidationError(f"Round {running.number} is running: wait for it or cancel it first.")


def round_continue(*, rnd: Round, user=None) -> Round:
    """Continue anyway: carry a held round on to the policy step with the reward model it has."""
    with transaction.atomic():
        rnd = Round.objects.select_for_update().get(pk=rnd.pk)
        if rnd.status != RoundStatus.HELD:
            raise ValidationError(f"Only a held round can continue anyway; round {rnd.number} is "
                                  f"{rnd.get_status_display().lower()}.")
        _refuse_while_another_runs(rnd)
        rnd.status, rnd.finished_at = RoundStatus.RUNNING, None
        rnd.params = {**rnd.params, "rm_check_overridden_by": getattr(user, "username", None) or "someone"}
        _advance(rnd, after=rnd.step)
    return rnd


def round_retry(*, rnd: Round, user=None) -> Round:
    """Run the step that stopped the round again and carry on from there."""
    with transaction.atomic():
        rnd = Round.objects.select_for_update().get(pk=rnd.pk)
        if rnd.status not in (RoundStatus.FAILED, RoundStatus.CANCELLED):
            raise ValidationError(f"Only a failed or cancelled round can be retried; round {rnd.number} is "
                                  f"{rnd.get_status_display().lower()}.")
        _refuse_while_another_runs(rnd)
        job = rnd.step_job(rnd.step)
        rnd.status, rnd.error, rnd.finished_at = RoundStatus.RUNNING, "", None
        if job is not None and job.pk == rnd.current_job_id and job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
            job_retry(job=job)  # the same job: a training step resumes from its checkpoints
            rnd.save()
        else:
            previous = STEP_ORDER[STEP_ORDER.index(rnd.step) - 1] if STEP_ORDER.index(rnd.step) else None
            _advance(rnd, after=previous)
    return rnd


def round_cancel(*, rnd: Round) -> Round:
    """Cancel the running step's job; the hook then marks the round cancelled (at once if queued)."""
    with transaction.atomic():
        rnd = Round.objects.select_for_update().get(pk=rnd.pk)
        if rnd.status != RoundStatus.RUNNING:
            return rnd
        job = rnd.current_job
        if job is None or job.is_finished:
            _fail(rnd, rnd.step, "Cancelled; Retry to carry on from this step.", RoundStatus.CANCELLED)
            return rnd
    job = job_cancel(job=job)
    if job.status == JobStatus.CANCELLED:
        round_job_finished(job)
    rnd.refresh_from_db()
    return rnd


def project_slug(rnd: Round) -> str:
    from django.utils.text import slugify

    return slugify(rnd.project.name)[:40] or "project"
