"""HTML pages of label quality: the admins' labeler dashboard (tables and plots), the review
queue, and each labeler's calibration feedback. Thin: selectors to read, services to write."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotate.models import ReviewStatus
from core import charts
from labelers.models import LabelerAlert
from labelers.selectors.access import ADMINS, STAFF, project_for_role, project_member, project_role
from labelers.selectors.calibration import calibration_for_labeler
from labelers.selectors.review import MODES, review_detail, review_queue
from labelers.selectors.stats import (
    labeler_stats,
    open_alerts,
    project_quality,
    submissions_per_hour,
    time_per_task_seconds,
)
from labelers.services.gold import task_mark_gold
from labelers.services.quality import alert_resolve, membership_resume, qualification_override
from labelers.services.review import KINDS, submission_review


@login_required
def project_labelers(request, project_id: int):
    project = project_for_role(user=request.user, project_id=project_id, roles=STAFF)
    rows = labeler_stats(project=project)
    workers = [r for r in rows if r["tasks_done"] or r["skips"] or r["role"] == "labeler"]
    summary = project_quality(project=project)
    per_hour = submissions_per_hour(project=project, hours=24)
    plots = {
        "done": charts.hbar_chart([(r["username"], r["tasks_done"]) for r in workers], title="Tasks done",
                                  fmt="{:.0f}"),
        "throughput": charts.hbar_chart([(r["username"], r["throughput_per_hour"]) for r in workers],
                                        title="Throughput (tasks per active hour)", fmt="{:.1f}"),
        "gold": charts.hbar_chart([(r["username"], r["gold_accuracy"]) for r in workers], title="Gold accuracy",
                                  value_max=1.0, threshold=project.pause_below_gold_accuracy or None,
                                  threshold_label="pause threshold"),
        "agreement": charts.hbar_chart([(r["username"], r["consensus_agreement"]) for r in workers],
                                       title="Agreement with the other labelers' consensus", value_max=1.0,
                                       threshold=project.review_flag_below or None,
                                       threshold_label="flagged for review below this"),
        "per_hour": charts.bar_chart([(f"{h:%H}h", n) for h, n in per_hour], y_label="submissions",
                                     title="Submissions per hour, last 24 hours (UTC)"),
        "time": charts.histogram(time_per_task_seconds(project=project), bins=12, title="Active time per task",
                                 x_label="seconds"),
    }
    return render(request, "labelers/project_labelers.html", {
        "project": project, "rows": workers, "summary": summary, "plots": plots,
        "alerts": open_alerts(project=project), "is_admin": project_role(user=request.user, project_id=project.pk)
        == "admin",
    })


@require_POST
@login_required
def labeler_resume(request, project_id: int, user_id: int):
    project = project_for_role(user=request.user, project_id=project_id, roles=ADMINS)
    user = project_member(project=project, user_id=user_id)
    membership_resume(admin=request.user, project=project, user=user)
    messages.success(request, f"{user.username} can work again.")
    return redirect("labelers:project", project_id=project.pk)


@require_POST
@login_required
def labeler_qualify(request, project_id: int, user_id: int):
    project = project_for_role(user=request.user, project_id=project_id, roles=ADMINS)
    user = project_member(project=project, user_id=user_id)
    passed = request.POST.get("passed") == "1"
    qualification_override(admin=request.user, project=project, user=user, passed=passed)
    messages.success(request, f"{user.username} is now {'qualified' if passed else 'not qualified'}.")
    return redirect("labelers:project", project_id=project.pk)


@require_POST
@login_required
def alert_resolve_view(request, project_id: int, alert_id: int):
    project = project_for_role(user=request.user, project_id=project_id, roles=ADMINS)
    try:
        alert_resolve(admin=request.user, alert_id=alert_id)
    except LabelerAlert.DoesNotExist as exc:
        raise Http404(str(exc)) from None
    return redirect("labelers:project", project_id=project.pk)


@login_required
def review_queue_view(request, project_id: int):
    project = project_for_role(user=request.user, project_id=project_id, roles=STAFF)
    mode = request.GET.get("mode", "all")
    if mode not in MODES:
        mode = "all"
    items = review_queue(project=project, reviewer=request.user, mode=mode)
    return render(request, "labelers/review_queue.html", {"project": project, "items": items, "mode": mode,
                                                          "modes": MODES})


@login_required
def review_submission_view(request, project_id: int, kind: str, submission_id: int):
    project = project_for_role(user=request.user, project_id=project_id, roles=STAFF)
    model = KINDS.get(kind)
    if model is None:
        raise Http404("No such kind of submission.")
    submission = get_object_or_404(model.objects.select_related("task", "task__prompt", "labeler"),
                                   pk=submission_id, task__project=project)
    error = ""
    if request.method == "POST":
        try:
            submission_review(reviewer=request.user, kind=kind, submission_id=submission.pk,
                              decision=request.POST.get("decision", ""), comment=request.POST.get("comment", ""))
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, f"{kind.capitalize()} {submission.pk} {request.POST.get('decision')}.")
            return redirect("labelers:review", project_id=project.pk)
    return render(request, "labelers/review_submission.html", {
        "project": project, "d": review_detail(kind=kind, submission=submission), "error": error,
        "decisions": [ReviewStatus.ACCEPTED, ReviewStatus.REJECTED],
        "is_admin": project_role(user=request.user, project_id=project.pk) == "admin",
    }, status=400 if error else 200)


@require_POST
@login_required
def task_gold_view(request, project_id: int, kind: str, submission_id: int):
    """Make the reviewed task gold, with this ranking or the others' consensus as its answer."""
    project = project_for_role(user=request.user, project_id=project_id, roles=ADMINS)
    ranking = get_object_or_404(KINDS["ranking"], pk=submission_id, task__project=project)
    detail = review_detail(kind="ranking", submission=ranking)
    source = request.POST.get("answer")
    if source == "consensus":
        tiers = [[c["id"] for c in detail["candidates"] if c["consensus_rank"] == r]
                 for r in sorted({c["consensus_rank"] for c in detail["candidates"] if c["consensus_rank"]})]
    else:
        tiers = ranking.tiers
    try:
        task_mark_gold(admin=request.user, task_id=ranking.task_id, gold_answer={"tiers": tiers},
                       is_screening=request.POST.get("is_screening") == "1")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Task {ranking.task_id} is now a gold task.")
    return redirect("labelers:review-submission", project_id=project.pk, kind=kind, submission_id=ranking.pk)


@login_required
def calibration_view(request, project_id: int):
    project = project_for_role(user=request.user, project_id=project_id)
    data = calibration_for_labeler(project=project, user=request.user)
    return render(request, "labelers/calibration.html", {"project": project, **data})
