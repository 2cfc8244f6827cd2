"""The members list of a project's admin page: who, in which role, paused or not, how much
they did and when they last worked."""
from __future__ import annotations

from django.db.models import Count, Max

from annotate.models import Demonstration, Membership, Project, Ranking


def project_members(*, project: Project) -> list[dict]:
    done: dict[int, int] = {}
    last: dict[int, object] = {}
    for model in (Ranking, Demonstration):
        for labeler_id, n, at in (model.objects.filter(task__project=project, labeler__isnull=False)
                                  .values_list("labeler_id").annotate(n=Count("pk"), at=Max("created_at"))
                                  .values_list("labeler_id", "n", "at")):
            done[labeler_id] = done.get(labeler_id, 0) + n
            last[labeler_id] = max(filter(None, (last.get(labeler_id), at)))
    memberships = Membership.objects.filter(project=project).select_related("user").order_by("user__username")
    return [{"membership": m, "user": m.user, "tasks_done": done.get(m.user_id, 0), "last_active": last.get(m.user_id)}
            for m in memberships]
