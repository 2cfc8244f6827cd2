"""HTML views of the annotation app: the home page and the labeler workspace.

Thin: they turn the page's form into the REST API's input, check it with the same validators
(annotate/serializers.py), call the same services as the API (annotate/apis.py), and render the
next task. With htmx ("submit and next"), a POST answers with the next task's
fragment; without JavaScript it redirects to the workspace. The page posts candidate
*positions* (1..K as the labeler sees them), never candidate ids, so the markup says nothing
about which candidate is which.
"""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from rest_framework import serializers

from annotate.models import Assignment, AssignmentState, PreferenceStrength, RankingOutcome, TaskKind
from annotate.selectors import (
    assignment_get,
    candidates_cut_off,
    candidates_shown,
    duration_label,
    labeler_progress_today,
    position_map,
    project_cards,
    project_for_member,
    projects_for_user,
)
from annotate.serializers import demonstration_input_validate, ranking_input_validate, skip_reason_validate
from annotate.services.assignments import assignment_skip, task_next_for_labeler
from annotate.services.submissions import RankingInput, demonstration_submit, ranking_submit
from annotate.services.text import markdown_to_safe_html
from core.errors import errors_text
from core.jsonbody import JSONShapeError, json_loads
from core.permissions import user_is_admin


@login_required
def home(request):
    projects = list(projects_for_user(user=request.user).order_by("name"))
    member_of = set(request.user.memberships.values_list("project_id", flat=True))
    cards = project_cards(projects=projects)
    return render(request, "annotate/home.html", {
        "projects": [(p, cards[p.pk]) for p in projects], "member_of": member_of,
        "is_admin": user_is_admin(request.user),
    })


# --- the workspace ---------------------------------------------------------------------------

def _progress(request, project) -> dict:
    p = labeler_progress_today(user=request.user, project=project)
    return {**p, "time_label": duration_label(p["time_ms_today"])}


def _task_context(request, project, assignment: Assignment | None) -> dict:
    ctx = {"project": project, "assignment": assignment, "progress": _progress(request, project)}
    if assignment is None:
        return ctx
    task = assignment.task
    shown = candidates_shown(assignment=assignment)
    ctx.update(task=task, conversation=task.prompt.conversation, k=str(len(shown)), aid=str(assignment.pk),
               # renew the lease three times per lease time while the tab is visible (at least every 30 min)
               renew_ms=str(max(1000, min(project.lease_seconds * 1000 // 3, 30 * 60 * 1000))))
    if task.kind == TaskKind.RANKING:
        cut_off = candidates_cut_off(candidate_ids=[c.id for c in shown])
        scale = project.rating_scale
        ctx.update(
            # Strings, not ints: Django localises every int it prints, ~200 times on this page.
            candidates=[{"pos": str(c.position), "text": c.text, "cut_off": c.id in cut_off} for c in shown],
            rating_values=[str(v) for v in range(scale["min"], scale["max"] + 1)], rating_scale=scale,
            flags=project.flags,
            strengths=PreferenceStrength.choices if len(shown) == 2 else [],
        )
    else:
        ctx["suggestions"] = shown
    return ctx


def _render_task(request, project, assignment, status: int = 200):
    ctx = _task_context(request, project, assignment)
    template = "annotate/partials/task.html" if request.htmx else "annotate/workspace.html"
    ctx["oob"] = bool(request.htmx)
    return render(request, template, ctx, status=status)


def _next_assignment(request, project):
    """The labeler's next assignment, or None; a paused labeler is told why (403)."""
    return task_next_for_labeler(user=request.user, project=project)


@login_required
@require_GET
def workspace(request, project_id: int):
    project = project_for_member(user=request.user, project_id=project_id)
    try:
        assignment = _next_assignment(request, project)
    except PermissionDenied as exc:
        return render(request, "annotate/workspace.html", {"project": project, "blocked": str(exc)}, status=403)
    return _render_task(request, project, assignment)


def _after_write(request, project, done_message: str):
    if not request.htmx:
        messages.success(request, done_message)
        return redirect("annotate:workspace", project_id=project.pk)
    try:
        assignment = _next_assignment(request, project)
    except PermissionDenied as exc:
        # The answer is stored: say so first, or the 403 reads as a refusal of the work on screen.
        response = HttpResponse(f"{done_message} {exc}", status=403, content_type="text/plain; charset=utf-8")
        response["X-Ranklab-Saved"] = "true"  # the page drops its draft of this task: nothing is lost
        return response
    return _render_task(request, project, assignment)


ALREADY_SUBMITTED = ("You already submitted this task (in another tab or window), so this answer was not saved: "
                     "the first one counts.")


def _error(request, project, exc: Exception, status: int = 400):
    """A refused write: htmx shows the message and keeps the labeler's work on the page;
    without JavaScript the message is flashed on the workspace."""
    if isinstance(exc, PermissionDenied):
        status = 403
    if isinstance(exc, serializers.ValidationError):
        text = errors_text(exc.detail)
    else:
        text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
    if request.htmx:
        return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
    messages.error(request, text)
    return redirect("annotate:workspace", project_id=project.pk)


def _json_field(post, name: str, what: str):
    """A form field that carries JSON (the page's script writes it), with the API's limits."""
    try:
        return json_loads(post.get(name) or "[]")
    except JSONShapeError as exc:
        raise ValidationError(f"{what}: {exc}")
    except ValueError:
        raise ValidationError(f"{what} could not be read; reload the page.")


def ranking_input_from_form(post, positions: dict[int, int]) -> RankingInput:
    """The page's form → RankingInput with candidate ids (the page only knows positions), checked
    by the API's validator (annotate.serializers) before positions become ids."""
    outcome = post.get("outcome") or RankingOutcome.RANKED
    data = {"outcome": outcome, "tiers": [], "ratings": {}, "flags": {},
            "preference_strength": post.get("preference_strength", ""), "rationale": post.get("rationale", ""),
            "time_on_task_ms": post.get("time_on_task_ms") or 0}
    if outcome == RankingOutcome.CANT_JUDGE:
        data["cant_judge_reason"] = post.get("cant_judge_reason", "")
    if outcome == RankingOutcome.RANKED:
        data["tiers"] = _json_field(post, "tiers", "The ranking")
    for pos in positions:
        if post.get(f"rating_{pos}"):
            data["ratings"][str(pos)] = post[f"rating_{pos}"]
        chosen = [f for f in post.getlist(f"flags_{pos}") if f]
        if chosen:
            data["flags"][str(pos)] = chosen
    ranking = ranking_input_validate(data)

    def cid(pos: int) -> int:
        if pos not in positions:
            raise ValidationError(f"There is no candidate {pos} in this task.")
        return positions[pos]

    ranking.tiers = [[cid(p) for p in tier] for tier in ranking.tiers]
    if outcome == RankingOutcome.RANKED and not ranking.tiers:
        raise ValidationError("Rank the candidates, or choose “none is acceptable” or “can't judge”.")
    ranking.ratings = {positions[int(pos)]: value for pos, value in ranking.ratings.items()}
    ranking.flags = {positions[int(pos)]: values for pos, values in ranking.flags.items()}
    return ranking


def demonstration_input_from_form(request, assignment):
    post = request.POST
    data = {"text": post.get("text", ""), "time_on_task_ms": post.get("time_on_task_ms") or 0}
    if assignment.task.kind == TaskKind.DIALOGUE:
        data["conversation"] = _json_field(post, "conversation", "The conversation")
        data["suggestions"] = _json_field(post, "suggestions", "The suggestions")
    elif post.get("suggestion_candidate_id"):
        data["suggestions"] = [{"candidate_id": post["suggestion_candidate_id"]}]
    return demonstration_input_validate(user=request.user, assignment=assignment, data=data)


def _write(request, project_id: int, assignment_id: int, write, done_message: str, *, skip: bool = False):
    """The three workspace posts: the labeler's own assignment in this project (a paused labeler
    is told why, 403; an answer to a submitted task is refused, 409: the API's retries stay
    idempotent, a page says so), then `write(assignment)`, then the next task."""
    project = project_for_member(user=request.user, project_id=project_id)
    try:
        assignment = assignment_get(user=request.user, assignment_id=assignment_id, project=project)
    except PermissionDenied as exc:
        return _error(request, project, exc)
    if assignment.state == AssignmentState.SUBMITTED:
        if skip:
            return _error(request, project, ValidationError("This task is already submitted."))
        return _error(request, project, ValidationError(ALREADY_SUBMITTED), status=409)
    try:
        write(assignment)
    except (ValidationError, PermissionDenied, serializers.ValidationError) as exc:
        return _error(request, project, exc)
    except Assignment.DoesNotExist:  # removed from the project since the read above
        raise Http404("No such assignment for you.") from None
    return _after_write(request, project, done_message)


@login_required
@require_POST
def ranking_post(request, project_id: int, assignment_id: int):
    def write(assignment):
        data = ranking_input_from_form(request.POST, position_map(assignment=assignment))
        ranking_submit(user=request.user, assignment_id=assignment.pk, data=data)

    return _write(request, project_id, assignment_id, write, "Ranking saved.")


@login_required
@require_POST
def demonstration_post(request, project_id: int, assignment_id: int):
    def write(assignment):
        data = demonstration_input_from_form(request, assignment)
        demonstration_submit(user=request.user, assignment_id=assignment.pk, data=data)

    return _write(request, project_id, assignment_id, write, "Demonstration saved.")


@login_required
@require_POST
def skip_post(request, project_id: int, assignment_id: int):
    def write(assignment):
        reason = skip_reason_validate({"reason": request.POST.get("reason", "")})
        assignment_skip(user=request.user, assignment_id=assignment.pk, reason=reason)

    return _write(request, project_id, assignment_id, write, "Task skipped.", skip=True)


@login_required
@require_POST
def markdown_preview(request, project_id: int):
    """Sanitised HTML of the posted markdown, for the demonstration's preview tab."""
    project_for_member(user=request.user, project_id=project_id)
    html = markdown_to_safe_html(request.POST.get("text", ""))
    return HttpResponse(html or '<p class="muted">Nothing to preview yet.</p>')

