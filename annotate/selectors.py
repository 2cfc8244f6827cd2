"""Reads for the labeler workspace: what a labeler may open, what a task shows, progress.

Candidates are always listed in the assignment's shown order (shuffled per labeler) and never
say which model wrote them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from annotate.models import Assignment, Demonstration, Project, Ranking, TaskCandidate
from core.permissions import user_is_admin


def projects_for_user(*, user) -> QuerySet:
    """The projects the home page lists: every project for a site admin, else the user's own."""
    if user_is_admin(user):
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def project_for_member(*, user, project_id: int) -> Project:
    """The project if the user is a member; otherwise 404, so non-members cannot even tell
    whether it exists."""
    project = Project.objects.filter(pk=project_id, memberships__user=user).first()
    if project is None:
        raise Http404("No such project for you.")
    return project


def paused_message(reason: str) -> str:
    return f"Your work on this project is paused: {reason or 'ask an admin'}."


def member_active(*, user) -> Q:
    """A filter for assignments: the user is a member of the assignment's project and not paused.
    Only active members read, submit, skip or renew their assignments; a removed member's work
    was handed back to the pool, and a paused one's is refused until an admin resumes them. A
    join, not a subquery: a (project, user) pair has one membership at most, and a join costs the
    ORM less to build on the submit path."""
    return Q(project__memberships__user=user, project__memberships__is_paused=False)


def assignment_refused(*, user, assignment_id: int) -> Exception:
    """Why the user cannot reach this assignment: paused in its project (PermissionDenied, with
    the reason), otherwise not found, as for anyone else's assignment."""
    project_id = (Assignment.objects.filter(pk=assignment_id, labeler=user)
                  .values_list("project_id", flat=True).first())
    paused = user.memberships.filter(project_id=project_id, is_paused=True).values_list("paused_reason").first()
    if project_id is not None and paused is not None:
        return PermissionDenied(paused_message(paused[0]))
    return Http404("No such assignment for you.")


def assignment_get(*, user, assignment_id: int, project: Project | None = None) -> Assignment:
    """The user's own assignment while they are an active member of its project (and, given
    `project`, in that project); otherwise Http404, or PermissionDenied while paused."""
    qs = (Assignment.objects.select_related("task", "task__prompt", "project")
          .filter(member_active(user=user), pk=assignment_id, labeler=user))
    if project is not None:
        qs = qs.filter(project=project)
    assignment = qs.first()
    if assignment is None:
        raise assignment_refused(user=user, assignment_id=assignment_id)
    return assignment


@dataclass(frozen=True)
class ShownCandidate:
    position: int  # 1-based, as the labeler sees it (and types it)
    id: int
    text: str


def candidates_shown(*, assignment: Assignment) -> list[ShownCandidate]:
    """The task's candidates in the order this labeler sees them. Candidates added to the
    task after the lease (never expected) are appended, so nothing is hidden. A fresh lease
    carries its candidates' texts (`candidate_texts`, set by task_next_for_labeler)."""
    texts = getattr(assignment, "candidate_texts", None) or dict(
        TaskCandidate.objects.filter(task_id=assignment.task_id).values_list("candidate_id", "candidate__text"))
    order = [cid for cid in (assignment.shown_order or []) if cid in texts]
    order += sorted(set(texts) - set(order))
    return [ShownCandidate(position=i + 1, id=cid, text=texts[cid]) for i, cid in enumerate(order)]


def position_map(*, assignment: Assignment) -> dict[int, int]:
    """{position (1-based): candidate id} for turning what the page posts into ids."""
    return {c.position: c.id for c in candidates_shown(assignment=assignment)}


def _start_of_today() -> datetime:
    today = timezone.localdate()
    return timezone.make_aware(datetime.combine(today, time.min))


def labeler_progress_today(*, user, project: Project) -> dict:
    """Tasks done today in this project and the active time they took."""
    since = _start_of_today()
    done, spent = 0, 0
    for model in (Ranking, Demonstration):
        agg = model.objects.filter(labeler=user, task__project=project, created_at__gte=since).aggregate(
            n=Count("pk"), ms=Sum("time_on_task_ms")
        )
        done += agg["n"] or 0
        spent += agg["ms"] or 0
    skipped = Assignment.objects.filter(
        labeler=user, project=project, state="skipped", finished_at__gte=since
    ).count()
    return {"done_today": done, "skipped_today": skipped, "time_ms_today": spent}


def duration_label(ms: int) -> str:
    minutes = int(ms // 60000)
    if ms and minutes == 0:
        return "< 1 min"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def project_cards(*, projects) -> dict[int, dict]:
    """{project id: {"open", "complete", "percent", "active_today"}} for the home page's cards:
    non-gold tasks by state, and the labelers who took a task today."""
    from django.db.models import Q

    from annotate.models import Task

    ids = [p.pk for p in projects]
    cards = {pk: {"open": 0, "complete": 0, "percent": 0, "active_today": 0} for pk in ids}
    for project_id, state, n in (Task.objects.filter(project_id__in=ids, is_gold=False)
                                 .filter(Q(state="open") | Q(state="complete"))
                                 .values_list("project_id", "state").annotate(n=Count("pk"))
                                 .values_list("project_id", "state", "n")):
        cards[project_id][state] = n
    for project_id, n in (Assignment.objects.filter(project_id__in=ids, leased_at__gte=_start_of_today())
                          .values_list("project_id").annotate(n=Count("labeler_id", distinct=True))
                          .values_list("project_id", "n")):
        cards[project_id]["active_today"] = n
    for card in cards.values():
        total = card["open"] + card["complete"]
        card["total"] = total
        card["percent"] = round(100 * card["complete"] / total) if total else 0
    return cards


def candidates_cut_off(*, candidate_ids) -> set[int]:
    """The candidates whose model stopped at its token limit (finish_reason "length"): the
    workspace marks them, since their text ends mid-answer."""
    from annotate.models import Candidate

    return set(Candidate.objects.filter(pk__in=list(candidate_ids), sampling_params__finish_reason="length")
               .values_list("pk", flat=True))
