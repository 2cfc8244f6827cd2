"""The rounds pages (admins): start the next round, watch its steps, and the round dashboard —
reward-model accuracy against labeler agreement, reward distributions of old and new policy,
win rate against the parent (reward model and people, with intervals), KL, lineage and the
queue order. Progress refreshes by htmx polling of a partial while the round runs."""
import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotate.models import Project
from core.charts import bar_chart, histogram, line_chart
from core.jsonbody import JSONShapeError, json_loads
from core.query import IdField, query_refused
from jobs.services.lifecycle import JobQueueUnavailable
from labelers.selectors import admin_check
from training.models import STEP_ORDER, ModelKind, ModelVersion, PolicyMethod, QueueMode, Round, RoundStep
from training.services.rounds import round_cancel, round_continue, round_retry, round_start
from training.services.rounds.flow import base_policy_default
from training.services.rounds.presets import CPU_PRESET, cpu_friendly
from training.services.rounds.selectors import round_human_winrate, round_lineage, round_tasks_by_model


def _steps(rnd: Round) -> list[dict]:
    current = STEP_ORDER.index(rnd.step) if rnd.step in STEP_ORDER else len(STEP_ORDER)
    rows = []
    for i, step in enumerate(STEP_ORDER):
        job = rnd.step_job(step)
        state = "done" if i < current or rnd.step == RoundStep.DONE else (rnd.status if i == current else "waiting")
        if job is None and i < current:
            state = "skipped"
        rows.append({"step": step, "label": RoundStep(step).label, "job": job, "state": state})
    return rows


def _charts(rnd: Round) -> dict:
    rounds = list(rnd.project.rounds.filter(number__lte=rnd.number).select_related("reward_model")
                  .order_by("number"))
    acc = [[r.number, r.reward_model.metrics.get("eval_accuracy")] for r in rounds if r.reward_model]
    agree = [[r.number, r.reward_model.metrics.get("labeler_agreement")] for r in rounds if r.reward_model]
    kl = [[r.number, r.evaluation.get("kl_from_parent")] for r in rounds if r.evaluation]
    win = [[r.number, r.evaluation.get("win_rate")] for r in rounds if r.evaluation]
    ev = rnd.evaluation or {}
    truth = ev.get("ground_truth")
    human = round_human_winrate(rnd)
    charts = {
        "accuracy": line_chart({"RM test accuracy": acc, "labeler agreement": agree}, x_label="round",
                               title="Reward model accuracy vs labeler agreement", y_min=0, y_max=1),
        "winrates": bar_chart([("RM-judged", ev.get("win_rate")), ("people", human.get("win_rate"))]
                              + [(f"rule: {who}", truth[who]["rate"]) for who in ("parent", "new") if truth],
                              title="Win rate of the new policy vs its parent"
                                    + (" and the share satisfying the rule" if truth else ""), y_max=1),
        "history": line_chart({"RM-judged win rate": win, "KL from parent": kl}, x_label="round",
                              title="Win rate and KL per round"),
    }
    for label, key in (("new policy", "new"), ("parent", "parent")):
        values = (ev.get("rewards") or {}).get(key) or []
        charts[f"rewards_{key}"] = histogram(values, bins=10, title=f"Rewards of the {label}'s answers",
                                             x_label="reward")
    return charts


class RoundsQuery(forms.Form):
    project = IdField()


class BasePolicyField(forms.Form):
    base_policy = forms.ModelChoiceField(queryset=ModelVersion.objects.all(), required=False)


@login_required
def round_list(request):
    admin_check(request.user)
    query = RoundsQuery(request.GET)
    if not query.is_valid():
        return query_refused(request, query)
    projects = Project.objects.order_by("name")
    project = None
    if query.cleaned_data["project"]:
        project = get_object_or_404(Project, pk=query.cleaned_data["project"])
    elif len(projects) == 1:
        project = projects[0]  # with several, the admin picks one: a round never starts on a guess
    rounds = project.rounds.select_related("policy_model", "base_policy").order_by("-number") if project else []
    try:
        default_base = base_policy_default(project) if project else None
    except ValidationError:
        default_base = None
    return render(request, "training/rounds/list.html", {
        "projects": projects, "project": project, "rounds": rounds, "methods": PolicyMethod.choices,
        "queue_modes": QueueMode.choices, "default_base": default_base,
        "policies": ModelVersion.objects.filter(kind=ModelKind.POLICY).exclude(backend="openai").order_by("name"),
        "cpu_preset": json.dumps(CPU_PRESET, indent=1),
    })


def _start_params(post, method: str) -> dict:
    raw = post.get("params", "").strip()
    try:
        params = json_loads(raw) if raw else {}
    except json.JSONDecodeError as exc:
        raise ValidationError(f"Options are not valid JSON: {exc.msg} (line {exc.lineno}).")
    except JSONShapeError as exc:
        raise ValidationError(f"Options: {exc}")
    if not isinstance(params, dict):
        raise ValidationError("Options must be a JSON object.")
    if post.get("cpu_friendly"):
        params = cpu_friendly(params, method)
    for key in ("n_prompts", "pairwise_n"):
        if post.get(key):
            try:
                value = int(post[key])
            except ValueError:
                raise ValidationError(f"{key} must be a whole number.")
            if key == "n_prompts":
                params["generation"] = {**(params.get("generation") or {}), "n_prompts": value}
            else:
                params["pairwise_n"] = value
    return params


@login_required
@require_POST
def round_start_view(request, project_id: int):
    admin_check(request.user)
    project = get_object_or_404(Project, pk=project_id)
    method = request.POST.get("method", PolicyMethod.DPO)
    try:
        if request.POST.get("project") != str(project.pk):
            raise ValidationError(f"This form was not for {project.name}: choose the project again and start from "
                                  "its own form.")
        if method not in PolicyMethod.values:
            raise ValidationError(f"Unknown method {method!r}.")
        chosen = BasePolicyField(request.POST)
        if not chosen.is_valid():
            raise ValidationError(f"Base policy: {' '.join(chosen.errors['base_policy'])}")
        base = chosen.cleaned_data["base_policy"]
        rnd = round_start(project=project, method=method, base_policy=base, user=request.user,
                          queue_mode=request.POST.get("queue_mode", QueueMode.NONE),
                          params=_start_params(request.POST, method))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(f"{reverse('rounds:list')}?project={project.pk}")
    except JobQueueUnavailable as exc:  # the round and its first job are saved; the sweeper sends the job
        messages.warning(request, str(exc.detail))
        rnd = Round.objects.filter(current_job_id=exc.job_id).first()
        return redirect("rounds:detail", round_id=rnd.pk) if rnd else redirect(
            f"{reverse('rounds:list')}?project={project.pk}")
    return redirect("rounds:detail", round_id=rnd.pk)


@login_required
def round_detail(request, round_id: int):
    admin_check(request.user)
    rnd = get_object_or_404(Round.objects.select_related(
        "project", "base_policy", "reward_model", "policy_model", "export", "current_job"), pk=round_id)
    rm_metrics = rnd.reward_model.metrics if rnd.reward_model else {}
    context = {"round": rnd, "steps": _steps(rnd), "charts": _charts(rnd), "human": round_human_winrate(rnd),
               "truth": (rnd.evaluation or {}).get("ground_truth"), "rm_accuracy": rm_metrics.get("eval_accuracy"),
               "rm_pairs": rm_metrics.get("eval_pairs"), "agreement": rm_metrics.get("labeler_agreement"),
               "lineage": round_lineage(rnd), "by_model": round_tasks_by_model(rnd),
               "queue_order": rnd.queue_order[:25], "running": rnd.status == "running"}
    if request.htmx:  # the polled part only; 286 tells htmx to stop polling once the round is over
        return render(request, "training/rounds/_live.html", context, status=200 if context["running"] else 286)
    return render(request, "training/rounds/detail.html", context)


def _round_action(request, round_id: int, action):
    """Retry and continue anyway: an admin's POST, the service's refusal as a message, back to the round."""
    admin_check(request.user)
    try:
        action(rnd=get_object_or_404(Round, pk=round_id), user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except JobQueueUnavailable as exc:
        messages.warning(request, str(exc.detail))
    return redirect("rounds:detail", round_id=round_id)


@login_required
@require_POST
def round_retry_view(request, round_id: int):
    return _round_action(request, round_id, round_retry)


@login_required
@require_POST
def round_continue_view(request, round_id: int):
    return _round_action(request, round_id, round_continue)


@login_required
@require_POST
def round_cancel_view(request, round_id: int):
    admin_check(request.user)
    round_cancel(rnd=get_object_or_404(Round, pk=round_id))
    return redirect("rounds:detail", round_id=round_id)
