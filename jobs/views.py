"""The jobs pages (admins): every job with a live progress bar, log tail, metric plots, cancel
and retry. Progress refreshes through htmx polling of a partial while a job runs."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.permissions import admin_check
from jobs.models import Job, JobStatus
from jobs.registry import job_kind_choices
from jobs.selectors import job_charts, job_links
from jobs.services import job_cancel, job_retry
from jobs.services.lifecycle import JobQueueUnavailable


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
    return render(request, "jobs/list.html", {
        "page": page, "kinds": job_kind_choices(), "statuses": JobStatus.choices, "kind": kind, "status": status,
    })


@login_required
def job_row(request, job_id: int):
    admin_check(request.user)
    return render(request, "jobs/_row.html", {"job": get_object_or_404(Job, pk=job_id)})


@login_required
def job_detail(request, job_id: int):
    admin_check(request.user)
    job = get_object_or_404(Job.objects.select_related("project", "parent"), pk=job_id)
    template = "jobs/_live.html" if request.htmx else "jobs/detail.html"
    # A finished job's fragment answers 286, which tells htmx to stop polling.
    return render(request, template, {"job": job, "charts": job_charts(job), "links": job_links(job),
                                      "children": job.children.all()},
                  status=286 if request.htmx and job.is_finished else 200)


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
        messages.error(request, str(exc))
    except JobQueueUnavailable as exc:  # queued again, and sent by the sweeper once the broker is back
        messages.warning(request, str(exc.detail))
    return redirect("jobs:detail", job_id=job_id)
