"""Per-labeler and per-project statistics: tasks done, active time, throughput, gold accuracy,
agreement, skips. One pass over the project's submissions; agreement from labelers/agreement.py.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.utils import timezone

from annotate.models import (
    Assignment,
    AssignmentState,
    Demonstration,
    Membership,
    Project,
    Ranking,
    RankingOutcome,
    ReviewStatus,
    Task,
    TaskState,
)
from core.roles import Role
from labelers import agreement
from labelers.models import LabelerAlert, RankingQuality


def _rankings_by_task(project: Project) -> dict[int, dict[int, list]]:
    """{task: {labeler: tiers}} of counted (not rejected), ranked, non-gold rankings."""
    rows = (Ranking.objects.filter(task__project=project, task__is_gold=False, outcome=RankingOutcome.RANKED,
                                   labeler__isnull=False)
            .exclude(review_status=ReviewStatus.REJECTED).values_list("task_id", "labeler_id", "tiers"))
    out: dict = defaultdict(dict)
    for task_id, labeler_id, tiers in rows:
        out[task_id][labeler_id] = tiers
    return out


def ratings_alpha(project: Project) -> float | None:
    """Krippendorff's alpha (interval) of the ratings: a unit is one candidate of one task."""
    units: dict = defaultdict(dict)
    rows = (Ranking.objects.filter(task__project=project, task__is_gold=False, labeler__isnull=False)
            .exclude(review_status=ReviewStatus.REJECTED).values_list("task_id", "labeler_id", "ratings"))
    for task_id, labeler_id, ratings in rows:
        for cid, value in (ratings or {}).items():
            units[(task_id, cid)][labeler_id] = value
    return agreement.krippendorff_alpha(list(units.values()), metric="interval")


def labeler_stats(*, project: Project, user_ids: list[int] | None = None) -> list[dict]:
    """One row per labeler who is a member or has worked on the project."""
    submissions = defaultdict(list)  # labeler -> [(created_at, time_on_task_ms, rejected)]
    for model in (Ranking, Demonstration):
        rows = model.objects.filter(task__project=project, labeler__isnull=False)
        if user_ids is not None:
            rows = rows.filter(labeler_id__in=user_ids)
        for labeler_id, created_at, ms, review in rows.values_list(
                "labeler_id", "created_at", "time_on_task_ms", "review_status"):
            submissions[labeler_id].append((created_at, ms, review == ReviewStatus.REJECTED))
    skips = dict(Assignment.objects.filter(project=project, state=AssignmentState.SKIPPED)
                 .values_list("labeler_id").annotate(n=Count("pk")).values_list("labeler_id", "n"))
    quality = defaultdict(lambda: {"gold": [], "agree": 0.0, "pairs": 0})
    for labeler_id, gold, agree, pairs in (
            RankingQuality.objects.filter(project=project).exclude(ranking__review_status=ReviewStatus.REJECTED)
            .values_list("labeler_id", "gold_score", "consensus_agreement", "consensus_pairs")):
        q = quality[labeler_id]
        if gold is not None:
            q["gold"].append(gold)
        if agree is not None and pairs:
            q["agree"] += agree * pairs
            q["pairs"] += pairs
    peers = agreement.labeler_pairwise_agreement(_rankings_by_task(project))
    members = {m.user_id: m for m in Membership.objects.filter(project=project)}
    ids = set(members) | set(submissions)
    if user_ids is not None:
        ids &= set(user_ids)
    users = get_user_model().objects.in_bulk(ids)
    rows = []
    for uid in sorted(ids, key=lambda i: users[i].username):
        subs = submissions.get(uid, [])
        counted = [s for s in subs if not s[2]]
        times = [s[1] for s in counted if s[1]]
        active_hours = sum(times) / 3_600_000
        q = quality.get(uid, {"gold": [], "agree": 0.0, "pairs": 0})
        member = members.get(uid)
        rows.append({
            "user_id": uid, "username": users[uid].username,
            "role": member.role if member else Role.LABELER,
            "is_paused": bool(member and member.is_paused),
            "paused_reason": member.paused_reason if member else "",
            "qualification": member.qualification_status if member else "",
            "tasks_done": len(counted), "rejected": len(subs) - len(counted), "skips": skips.get(uid, 0),
            "active_minutes": round(active_hours * 60, 1),
            "median_seconds_per_task": round(statistics.median(times) / 1000, 1) if times else None,
            "mean_seconds_per_task": round(statistics.fmean(times) / 1000, 1) if times else None,
            "throughput_per_hour": round(len(times) / active_hours, 1) if active_hours else None,
            "gold_tasks": len(q["gold"]),
            "gold_accuracy": round(statistics.fmean(q["gold"]), 4) if q["gold"] else None,
            "consensus_agreement": round(q["agree"] / q["pairs"], 4) if q["pairs"] else None,
            "peer_agreement": round(peers[uid]["agreement"], 4) if uid in peers and peers[uid]["agreement"] is not None
            else None,
            "last_submission": max((s[0] for s in subs), default=None),
        })
    return rows


def submissions_per_hour(*, project: Project, hours: int = 24, now=None) -> list[tuple]:
    """[(hour start, submissions)] for the last `hours` hours, oldest first, zeros included."""
    now = now or timezone.now()
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    buckets = {start + timedelta(hours=i): 0 for i in range(hours)}
    for model in (Ranking, Demonstration):
        for created in model.objects.filter(task__project=project, created_at__gte=start).values_list(
                "created_at", flat=True):
            buckets[created.replace(minute=0, second=0, microsecond=0)] += 1
    return sorted(buckets.items())


def time_per_task_seconds(*, project: Project) -> list[float]:
    rows = []
    for model in (Ranking, Demonstration):
        rows += [ms / 1000 for ms in model.objects.filter(task__project=project, time_on_task_ms__gt=0)
                 .exclude(review_status=ReviewStatus.REJECTED).values_list("time_on_task_ms", flat=True)]
    return rows


def project_quality(*, project: Project) -> dict:
    """The project's summary: progress, agreement (InstructGPT's, ties count half),
    Krippendorff's alpha of ratings, open alerts."""
    by_task = _rankings_by_task(project)
    shared = {t: r for t, r in by_task.items() if len(r) >= 2}
    counts = Task.objects.filter(project=project).aggregate(
        total=Count("pk", filter=Q(is_gold=False)), complete=Count("pk", filter=Q(is_gold=False,
                                                                                  state=TaskState.COMPLETE)),
        gold=Count("pk", filter=Q(is_gold=True)), screening=Count("pk", filter=Q(is_screening=True)))
    pairwise = agreement.pairwise_agreement(shared)
    return {
        "tasks": counts["total"], "tasks_complete": counts["complete"],
        "gold_tasks": counts["gold"], "screening_tasks": counts["screening"],
        "tasks_with_overlap": len(shared),
        "pairwise_agreement": round(pairwise, 4) if pairwise is not None else None,
        "pairwise_agreement_strict_ties": _round(agreement.pairwise_agreement(shared, ties="strict")),
        "ratings_alpha": _round(ratings_alpha(project)),
        "open_alerts": LabelerAlert.objects.filter(project=project, resolved_at__isnull=True).count(),
        "paused_labelers": Membership.objects.filter(project=project, is_paused=True).count(),
    }


def _round(value):
    return round(value, 4) if value is not None else None


def open_alerts(*, project: Project):
    return LabelerAlert.objects.filter(project=project, resolved_at__isnull=True).select_related("labeler")
