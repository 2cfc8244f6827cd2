"""Admin pages: the model registry (list, register, lineage), starting a generation round
with its progress, and the playground. Thin: forms in, the same services as the API."""
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from annotate.models import Project
from core.forms import ModelIdsField
from core.query import IdField, query_refused
from jobs.models import Job
from jobs.services.lifecycle import JobQueueUnavailable
from labelers.selectors import admin_check
from training.apis import public_location
from training.models import Backend, ModelKind, ModelVersion
from training.services.generation import generation_start
from training.services.generation.start import SELECTION_MODES, selection_count
from training.services.registry import (
    model_add,
    model_forest,
    model_lineage,
    project_sampling_models_set,
)

REGISTRY_ONLY = "Only admins may use the model registry."


class RegisterForm(forms.Form):
    name = forms.CharField(max_length=200)
    backend = forms.ChoiceField(choices=Backend.choices)
    location = forms.CharField(max_length=500, help_text="Directory, .gguf file, or base URL (http://host:port/v1).")
    kind = forms.ChoiceField(choices=ModelKind.choices, initial=ModelKind.POLICY)
    endpoint_model = forms.CharField(max_length=200, required=False, label="Model name at the endpoint")
    api_key = forms.CharField(max_length=500, required=False, widget=forms.PasswordInput, label="API key")
    parent = forms.ModelChoiceField(queryset=ModelVersion.objects.all(), required=False)


class SamplingForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.order_by("name"))
    models = ModelIdsField(queryset=ModelVersion.objects.filter(kind=ModelKind.POLICY))


class GenerateForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.order_by("name"))
    models = ModelIdsField(queryset=ModelVersion.objects.filter(kind=ModelKind.POLICY),
                                            required=False, help_text="Empty: the project's sampling models.")
    k = forms.IntegerField(min_value=2, max_value=9, required=False, label="K (candidates per prompt)",
                           help_text="Empty: the project's K.")
    mode = forms.ChoiceField(choices=[(m, m) for m in SELECTION_MODES], initial="unused", label="Prompts")
    tag = forms.CharField(required=False)
    n = forms.IntegerField(min_value=1, required=False, label="At most N prompts")
    prompt_ids = forms.CharField(required=False, label="Prompt ids (mode ids)", help_text="Comma-separated.")
    temperature = forms.FloatField(min_value=0, max_value=5, initial=1.0)
    top_p = forms.FloatField(min_value=0.01, max_value=1, initial=0.95)
    max_new_tokens = forms.IntegerField(min_value=1, max_value=8192, initial=256)
    demonstrations = forms.BooleanField(required=False, label="Also make demonstration tasks with a suggestion")

    def clean_prompt_ids(self):
        raw = self.cleaned_data["prompt_ids"].replace(" ", "")
        try:
            return [int(x) for x in raw.split(",") if x]
        except ValueError:
            raise forms.ValidationError("Prompt ids are whole numbers separated by commas.")


class GenerateQuery(forms.Form):
    job = IdField()  # the generation job to show
    project = IdField()  # the project to preselect


class PlaygroundQuery(forms.Form):
    model = IdField()


def _form_error(form, exc: ValidationError):
    for message in exc.messages:
        form.add_error(None, message)


@login_required
def model_list(request):
    admin_check(request.user, REGISTRY_ONLY)
    register, sampling = RegisterForm(prefix="reg"), SamplingForm(prefix="smp")
    if request.method == "POST" and "register" in request.POST:
        register = RegisterForm(request.POST, prefix="reg")
        if register.is_valid():
            d = dict(register.cleaned_data)
            try:
                model = model_add(user=request.user, **d)
            except ValidationError as exc:
                _form_error(register, exc)
            except JobQueueUnavailable as exc:  # registered; its conversion job waits for the queue
                messages.warning(request, f"Registered {d['name']}. {exc.detail}")
                return redirect("training:model-list")
            else:
                messages.success(request, f"Registered {model.name}.")
                return redirect("training:model-list")
    elif request.method == "POST" and "sampling" in request.POST:
        sampling = SamplingForm(request.POST, prefix="smp")
        if sampling.is_valid():
            try:
                project_sampling_models_set(project=sampling.cleaned_data["project"],
                                            models=sampling.cleaned_data["models"])
            except ValidationError as exc:
                _form_error(sampling, exc)
            else:
                messages.success(request, f"{sampling.cleaned_data['project'].name} now samples from "
                                          f"{', '.join(m.name for m in sampling.cleaned_data['models'])}.")
                return redirect("training:model-list")
    models = ModelVersion.objects.select_related("parent", "produced_by_job", "export_snapshot").order_by("-created_at")
    rows = [{"model": m, "location": public_location(m)} for m in models]
    projects = Project.objects.prefetch_related("sampling_models").order_by("name")
    return render(request, "training/model_list.html",
                  {"rows": rows, "register": register, "sampling": sampling, "projects": projects})


@login_required
def model_detail(request, model_id: int):
    admin_check(request.user, REGISTRY_ONLY)
    model = get_object_or_404(ModelVersion.objects.select_related("parent", "produced_by_job", "export_snapshot"),
                              pk=model_id)
    return render(request, "training/model_detail.html", {
        "model": model, "location": public_location(model), **model_lineage(model=model),
        "metrics": sorted((k, v) for k, v in (model.metrics or {}).items() if not isinstance(v, (list, dict))),
        "projects": model.sampled_by_projects.order_by("name"), "candidates": model.candidates.count(),
    })


@login_required
def lineage(request):
    admin_check(request.user, REGISTRY_ONLY)
    return render(request, "training/lineage.html", {"forest": model_forest()})


CONFIRM_ABOVE = 100  # prompts: a bigger selection is queued only once the admin confirms its size


def _selection(d: dict) -> dict:
    selection = {"mode": d["mode"], "tag": d["tag"], "prompt_ids": d["prompt_ids"]}
    if d["n"]:
        selection["n"] = d["n"]
    return selection


def _coverage(form: GenerateForm) -> dict:
    """{"count", "k", "answers"} of a valid form's selection, or {"error": sentence}."""
    d = form.cleaned_data
    k = d["k"] or d["project"].k
    try:
        count = selection_count(project=d["project"], selection=_selection(d))
    except ValidationError as exc:
        return {"error": " ".join(exc.messages)}
    return {"count": count, "k": k, "answers": count * k}


@login_required
def generate(request):
    admin_check(request.user, REGISTRY_ONLY)
    query = GenerateQuery(request.GET)
    if not query.is_valid():
        return query_refused(request, query)
    job_id, project_id = query.cleaned_data["job"], query.cleaned_data["project"]
    job = Job.objects.filter(pk=job_id, kind="generate").first() if job_id else None
    form = GenerateForm(request.POST or None, initial={"project": project_id or (job.project_id if job else None)})
    confirm = None
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        project = d["project"]
        models = list(d["models"]) or list(project.sampling_models.order_by("pk"))
        coverage = _coverage(form)
        if coverage.get("count", 0) > CONFIRM_ABOVE and request.POST.get("confirm") != str(coverage["count"]):
            confirm = coverage  # asked once more, with the size; the form keeps what was typed
        else:
            try:
                job = generation_start(project=project, model_versions=models, k=d["k"], selection=_selection(d),
                                       params={key: d[key] for key in ("temperature", "top_p", "max_new_tokens",
                                                                       "demonstrations")}, user=request.user)
            except ValidationError as exc:
                _form_error(form, exc)
            except JobQueueUnavailable as exc:  # the job is saved: its progress, with the reason it waits
                messages.warning(request, str(exc.detail))
                return redirect(reverse("training:generate") + f"?job={exc.job_id}")
            else:
                return redirect(reverse("training:generate") + f"?job={job.pk}")
    recent = Job.objects.filter(kind="generate").select_related("project").order_by("-created_at")[:10]
    return render(request, "training/generate.html", {
        "form": form, "job": job, "recent": recent, "confirm": confirm, "confirm_above": CONFIRM_ABOVE,
        "coverage": _initial_coverage(form)})


def _initial_coverage(form: GenerateForm) -> dict | None:
    if form.is_bound:
        return _coverage(form) if form.is_valid() else None
    project_id = form.initial.get("project")  # an id GenerateQuery parsed, or the job's project
    project = Project.objects.filter(pk=project_id).first() if project_id else None
    if project is None:
        return None
    probe = GenerateForm({"project": project.pk, "mode": "unused", "temperature": 1.0, "top_p": 0.95,
                          "max_new_tokens": 256})
    return _coverage(probe) if probe.is_valid() else None


@login_required
def generate_count(request):
    """The sentence under the form saying how many prompts the selection covers (htmx)."""
    admin_check(request.user, REGISTRY_ONLY)
    form = GenerateForm(request.GET)
    coverage = _coverage(form) if form.is_valid() else {"error": "Choose a project and a selection."}
    return render(request, "training/_coverage.html", {"coverage": coverage, "confirm_above": CONFIRM_ABOVE})


@login_required
def playground(request):
    admin_check(request.user, REGISTRY_ONLY)
    query = PlaygroundQuery(request.GET)
    if not query.is_valid():
        return query_refused(request, query)
    models = ModelVersion.objects.filter(kind=ModelKind.POLICY).order_by("-created_at")
    return render(request, "training/playground.html", {"models": models, "selected": query.cleaned_data["model"]})
