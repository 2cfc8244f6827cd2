"""The jobs page (admins): every job with a live progress bar, log tail, metric plots,
cancel and retry. Progress refreshes through htmx polling of a partial while a job runs."""
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from config.charts import line_chart
from labelers.selectors import admin_check
from training.models import Job, JobKind, JobStatus
from training.services.jobs import job_cancel, job_retry


def _charts(job: Job) -> list:
    series = (job.metrics or {}).get("series") or {}
    agreement = (job.metrics or {}).get("labeler_agreement") or (job.result or {}).get("metrics", {}).get(
        "labeler_agreement")
    groups = {
        "Loss": {k: v for k, v in series.items() if "loss" in k},
        "Accuracy": {k: v for k, v in series.items() if "acc" in k},
        "Reward and KL": {k: v for k, v in series.items() if k in ("reward", "mean_reward", "kl", "eval_reward")},
    }
    charts = []
    for title, group in groups.items():
        if group:
            ref = {"labeler agreement": agreement} if title == "Accuracy" and agreement is not None else None
            charts.append(line_chart(group, title=title, reference=ref))
    return charts


@login_required
def job_list(request):
    admin_check(request.user)
    jobs = Job.objects.select_related("project").order_by("-created_at")
    kind, status = request.GET.get("kind", ""), request.GET.get("status", "")
    if kind:
        jobs = jobs.filter(kind=kind)
    if status:
        jobs = jobs.filter(status=status)
    page = Paginator(jobs, 50).get_page(request.GET.get("page"))
    return render(request, "training/jobs/list.html", {
        "page": page, "kinds": JobKind.choices, "statuses": JobStatus.choices, "kind": kind, "status": status,
    })


@login_required
def job_row(request, job_id: int):
    admin_check(request.user)
    return render(request, "training/jobs/_row.html", {"job": get_object_or_404(Job, pk=job_id)})


@login_required
def job_detail(request, job_id: int):
    admin_check(request.user)
    job = get_object_or_404(Job.objects.select_related("project", "parent"), pk=job_id)
    template = "training/jobs/_live.html" if request.htmx else "training/jobs/detail.html"
    return render(request, template, {"job": job, "charts": _charts(job), "models": job.models.all(),
                                      "children": job.children.all()})


@login_required
@require_POST
def job_cancel_view(request, job_id: int):
    admin_check(request.user)
    job_cancel(job=get_object_or_404(Job, pk=job_id))
    return redirect("jobs:detail", job_id=job_id)


@login_required
@require_POST
def job_retry_view(request, job_id: int):
    admin_check(request.user)
    job = get_object_or_404(Job, pk=job_id)
    try:
        job_retry(job=job)
    except ValueError as exc:
        from django.contrib import messages

        messages.error(request, str(exc))
    return redirect("jobs:detail", job_id=job_id)
