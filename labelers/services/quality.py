"""Label quality: gold scores, consensus agreement, qualification, pauses and alerts.

Called from the submission services inside their transaction (the task row is locked), so a
ranking, its score and any pause it causes are committed together or not at all.
"""
from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from annotate.models import (
    Assignment,
    AssignmentState,
    Membership,
    Project,
    QualificationStatus,
    Ranking,
    RankingOutcome,
    ReviewStatus,
    Task,
    TaskState,
)
from annotate.services.assignments import leases_withdraw
from core.ranking import pair_counts
from labelers import agreement
from labelers.models import AlertKind, LabelerAlert, RankingQuality
from labelers.selectors.access import project_role, user_is_admin


def ranking_quality_record(*, ranking: Ranking, task: Task) -> RankingQuality | None:
    """Score a just-submitted ranking: against gold on gold tasks (then qualification or the
    gold pause check), against consensus once its task completes. Call inside the submit
    transaction, with the task row locked."""
    quality = None
    if task.is_gold:
        quality = RankingQuality.objects.create(
            ranking=ranking, project_id=task.project_id, task=task, labeler_id=ranking.labeler_id,
            is_gold=True, is_screening=task.is_screening,
            gold_score=agreement.gold_score(tiers=ranking.tiers, flags=ranking.flags, gold_answer=task.gold_answer),
        )
        project = task.project
        if task.is_screening and project.qualification_required:
            qualification_maybe_decide(project=project, user=ranking.labeler)
        else:
            labeler_gold_check(project=project, user=ranking.labeler)
    elif task.state == TaskState.COMPLETE and task.submissions_required >= 2:
        # Rows for non-gold tasks are written here, when there is a consensus to compare with.
        task_consensus_record(task=task)
    return quality


def _counted_rankings(task: Task):
    return (Ranking.objects.filter(task=task, outcome=RankingOutcome.RANKED, labeler__isnull=False)
            .exclude(review_status=ReviewStatus.REJECTED).order_by("pk"))


def task_consensus_record(*, task: Task) -> list | None:
    """Store each ranking's agreement with the consensus of the task's other rankings
    (leave-one-out, see labelers/agreement.py); then run the agreement pause check for each
    of the task's labelers. Returns the task's full consensus tiers (None: < 2 rankings)."""
    rankings = list(_counted_rankings(task))
    if len(rankings) < 2:
        return None
    by_labeler = {r.labeler_id: r.tiers for r in rankings}
    for r in rankings:
        others = agreement.consensus_tiers([t for who, t in by_labeler.items() if who != r.labeler_id])
        agree, pairs = pair_counts(r.tiers, others)
        RankingQuality.objects.update_or_create(
            ranking=r, defaults={
                "project_id": task.project_id, "task": task, "labeler_id": r.labeler_id,
                "consensus_agreement": agree / pairs if pairs else None, "consensus_pairs": pairs,
            })
    project = task.project
    if project.pause_below_agreement > 0:
        for r in rankings:
            labeler_agreement_check(project=project, user=r.labeler)
    return agreement.consensus_tiers(list(by_labeler.values()))


# --- qualification ----------------------------------------------------------------------------

def _screening_tasks(project: Project):
    return Task.objects.filter(project=project, is_gold=True, is_screening=True)


def qualification_maybe_decide(*, project: Project, user) -> str | None:
    """Decide the labeler's screening once every screening task is submitted or skipped."""
    if not project.qualification_required:
        return None
    finished = Assignment.objects.filter(
        project=project, labeler=user, task__in=_screening_tasks(project),
        state__in=[AssignmentState.SUBMITTED, AssignmentState.SKIPPED]).values("task").distinct().count()
    if finished < _screening_tasks(project).count():
        return None
    return qualification_evaluate(project=project, user=user)


@transaction.atomic
def qualification_evaluate(*, project: Project, user) -> str:
    """Mean gold score over the screening set (a skipped or missing task scores 0) against the
    pass mark; a failure is reported to the project's admins. Decided once."""
    membership = Membership.objects.select_for_update().get(project=project, user=user)
    if membership.qualification_status != QualificationStatus.NOT_STARTED:
        return membership.qualification_status
    task_ids = list(_screening_tasks(project).values_list("pk", flat=True))
    scores = dict(RankingQuality.objects.filter(project=project, labeler=user, task_id__in=task_ids)
                  .exclude(ranking__review_status=ReviewStatus.REJECTED).values_list("task_id", "gold_score"))
    score = sum(scores.get(t) or 0.0 for t in task_ids) / len(task_ids) if task_ids else 0.0
    passed = score >= project.qualification_pass_mark
    membership.qualification_status = QualificationStatus.PASSED if passed else QualificationStatus.FAILED
    membership.qualification_score = score
    membership.qualified_at = timezone.now()
    membership.save(update_fields=["qualification_status", "qualification_score", "qualified_at"])
    if not passed:
        LabelerAlert.objects.create(
            project=project, labeler=user, kind=AlertKind.QUALIFICATION_FAILED,
            message=f"{user.username} scored {score:.0%} on the screening set of {len(task_ids)} tasks "
                    f"(pass mark {project.qualification_pass_mark:.0%}).")
    return membership.qualification_status


@transaction.atomic
def qualification_override(*, admin, project: Project, user, passed: bool) -> Membership:
    """An admin's decision replaces the screening's (e.g. after talking to the labeler)."""
    _require_admin(admin, project)
    membership = Membership.objects.select_for_update().get(project=project, user=user)
    membership.qualification_status = QualificationStatus.PASSED if passed else QualificationStatus.FAILED
    membership.qualified_at = timezone.now()
    membership.save(update_fields=["qualification_status", "qualified_at"])
    _resolve_alerts(project=project, user=user, by=admin, kinds=[AlertKind.QUALIFICATION_FAILED])
    return membership


# --- pauses -----------------------------------------------------------------------------------

def _recent(project: Project, user, field: str) -> list[float]:
    membership = Membership.objects.filter(project=project, user=user).only("quality_since").first()
    qs = (RankingQuality.objects.filter(project=project, labeler=user, **{f"{field}__isnull": False})
          .exclude(ranking__review_status=ReviewStatus.REJECTED))
    if field == "gold_score":
        qs = qs.filter(is_gold=True)
    if membership and membership.quality_since:
        qs = qs.filter(created_at__gt=membership.quality_since)
    return list(qs.order_by("-created_at", "-pk").values_list(field, flat=True)[: project.quality_window])


def _pause_when_below(*, project: Project, user, field: str, threshold: float, kind: str, measure: str,
                      unit: str) -> bool:
    """Pause the labeler when the mean of their last results in `field` (the project's rolling
    window, with at least quality_min_samples of them) is below `threshold` (0: check off)."""
    if threshold <= 0:
        return False
    recent = _recent(project, user, field)
    if len(recent) < max(1, project.quality_min_samples):
        return False
    mean = sum(recent) / len(recent)
    if mean >= threshold:
        return False
    return membership_pause(project=project, user=user, kind=kind, reason=(
        f"{measure} {mean:.0%} over your last {len(recent)} {unit} is below {threshold:.0%}"))


def labeler_gold_check(*, project: Project, user) -> bool:
    """Pause the labeler when their rolling gold accuracy is below the project's threshold."""
    return _pause_when_below(project=project, user=user, field="gold_score", threshold=project.pause_below_gold_accuracy,
                             kind=AlertKind.PAUSED_GOLD, measure="gold accuracy", unit="gold tasks")


def labeler_agreement_check(*, project: Project, user) -> bool:
    """Pause the labeler when their rolling agreement with consensus is below the threshold."""
    return _pause_when_below(project=project, user=user, field="consensus_agreement",
                             threshold=project.pause_below_agreement, kind=AlertKind.PAUSED_AGREEMENT,
                             measure="agreement with the other labelers", unit="tasks")


@transaction.atomic
def membership_pause(*, project: Project, user, kind: str, reason: str) -> bool:
    """Pause a labeler (no new work, and answers refused until an admin resumes them) and tell
    the project's admins. Returns False when they were already paused. Called from a submission,
    holding a task lock, so it takes no other task's lock: a lease the labeler still holds goes
    back to the pool once that transaction commits."""
    membership = Membership.objects.select_for_update().get(project=project, user=user)
    if membership.is_paused:
        return False
    membership.is_paused, membership.paused_reason = True, reason
    membership.save(update_fields=["is_paused", "paused_reason"])
    LabelerAlert.objects.create(project=project, labeler=user, kind=kind,
                                message=f"{user.username} was paused: {reason}.")
    transaction.on_commit(lambda: _leases_hand_back(project=project, user=user))
    return True


@transaction.atomic
def _leases_hand_back(*, project: Project, user) -> None:
    """The paused labeler's live leases back to the pool, in the lock order (membership first)."""
    if Membership.objects.select_for_update().filter(project=project, user=user, is_paused=True).first():
        leases_withdraw(project=project, user=user)


@transaction.atomic
def membership_resume(*, admin, project: Project, user) -> Membership:
    """Lift a pause. The rolling checks start afresh from now, so the results that caused the
    pause do not pause the labeler again at their next task."""
    _require_admin(admin, project)
    membership = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if membership is None:
        raise ValidationError(f"{user.username} is not a member of this project.")
    membership.is_paused, membership.paused_reason = False, ""
    membership.quality_since = timezone.now()
    membership.save(update_fields=["is_paused", "paused_reason", "quality_since"])
    _resolve_alerts(project=project, user=user, by=admin, kinds=[AlertKind.PAUSED_GOLD, AlertKind.PAUSED_AGREEMENT])
    return membership


def alert_resolve(*, admin, alert_id: int) -> LabelerAlert:
    alert = LabelerAlert.objects.select_related("project").filter(pk=alert_id).first()
    # Another project's alert is "not found", as a missing one: ids say nothing to outsiders.
    if alert is None or project_role(user=admin, project_id=alert.project_id) is None:
        raise LabelerAlert.DoesNotExist("No such alert.")
    _require_admin(admin, alert.project)
    if alert.resolved_at is None:
        alert.resolved_at, alert.resolved_by = timezone.now(), admin
        alert.save(update_fields=["resolved_at", "resolved_by"])
    return alert


def _resolve_alerts(*, project, user, by, kinds) -> None:
    LabelerAlert.objects.filter(project=project, labeler=user, kind__in=kinds, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=by)


def _require_admin(user, project: Project) -> None:
    if not (user_is_admin(user) or project_role(user=user, project_id=project.pk) == "admin"):
        raise PermissionDenied("Only an admin of this project can do this.")
