"""The review queue: pending submissions that were sampled or flagged by low agreement."""
from __future__ import annotations

from django.db.models import F, Q

from annotate.models import Demonstration, Project, Ranking, RankingOutcome, ReviewStatus
from core.ranking import pair_agreement, task_agreement
from labelers import agreement
from labelers.models import RankingQuality

MODES = ("all", "flagged", "sampled")
SAMPLE_BUCKETS = 1000


def _sampled(qs, rate: float):
    # A fixed pseudo-random share of submissions, decided by the id (Knuth's multiplicative
    # hash 2654435761, reduced mod 1000 first so every operand stays a 4-byte integer: with
    # server-side binding PostgreSQL takes the constant as a 4-byte parameter and wraps it),
    # so the sample is stable across page loads and the same on every database.
    multiplier = 2654435761 % SAMPLE_BUCKETS
    return (qs.annotate(_bucket=((F("pk") % SAMPLE_BUCKETS) * multiplier) % SAMPLE_BUCKETS)
            .filter(_bucket__lt=int(rate * SAMPLE_BUCKETS)))


def review_queue(*, project: Project, reviewer, mode: str = "all", limit: int = 50) -> list[dict]:
    """Pending submissions of others: flagged ones first (lowest agreement or gold score),
    then the sample, newest first. mode: all | flagged | sampled."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    threshold = project.review_flag_below
    flagged_ids = set()
    items = []
    if mode in ("all", "flagged"):
        low = (RankingQuality.objects.filter(project=project, ranking__review_status=ReviewStatus.PENDING)
               .filter(Q(consensus_agreement__lt=threshold) | Q(gold_score__lt=threshold))
               .exclude(labeler=reviewer).select_related("ranking", "labeler").order_by("consensus_agreement", "pk"))
        for q in low[:limit]:
            flagged_ids.add(q.ranking_id)
            score = min(v for v in (q.consensus_agreement, q.gold_score) if v is not None)
            items.append(_row("ranking", q.ranking, q.labeler.username, "flagged", score, q))
    if mode in ("all", "sampled"):
        for kind, model in (("ranking", Ranking), ("demonstration", Demonstration)):
            qs = (model.objects.filter(task__project=project, review_status=ReviewStatus.PENDING,
                                       labeler__isnull=False).exclude(labeler=reviewer)
                  .select_related("labeler").order_by("-created_at"))
            for sub in _sampled(qs, project.review_sample_rate)[:limit]:
                if kind == "ranking" and sub.pk in flagged_ids:
                    continue
                items.append(_row(kind, sub, sub.labeler.username, "sampled", None, None))
    return items[:limit]


def _row(kind, sub, username, reason, score, quality) -> dict:
    return {"kind": kind, "id": sub.pk, "task": sub.task_id, "labeler": username, "reason": reason,
            "score": score, "created_at": sub.created_at,
            "consensus_agreement": quality.consensus_agreement if quality else None,
            "gold_score": quality.gold_score if quality else None}


def review_detail(*, kind: str, submission) -> dict:
    """What a reviewer looks at: the prompt, the candidates as this labeler saw them (their shown
    order, numbered 1..K like the workspace), this answer and, for rankings, the consensus of the
    task's other labelers and the gold answer."""
    task = submission.task
    texts = {c.pk: c.text for c in task.candidates.all()}
    detail = {"kind": kind, "submission": submission, "task": task,
              "conversation": task.prompt.conversation, "candidates": []}
    if kind == "ranking":
        others = [r.tiers for r in Ranking.objects.filter(task=task, outcome="ranked")
                  .exclude(pk=submission.pk).exclude(review_status=ReviewStatus.REJECTED)]
        consensus = agreement.consensus_tiers(others) if others else []
        gold = (task.gold_answer or {}).get("tiers") if task.is_gold else None
        mine = {c: i + 1 for i, tier in enumerate(submission.tiers) for c in tier}
        theirs = {c: i + 1 for i, tier in enumerate(consensus) for c in tier}
        golds = {c: i + 1 for i, tier in enumerate(gold or []) for c in tier}
        order = submission.shown_order or list(texts)
        detail["candidates"] = [
            {"number": i + 1, "id": cid, "text": texts.get(cid, ""), "rank": mine.get(cid),
             "consensus_rank": theirs.get(cid), "gold_rank": golds.get(cid),
             "rating": (submission.ratings or {}).get(str(cid)), "flags": (submission.flags or {}).get(str(cid), [])}
            for i, cid in enumerate(order)]
        detail["agreement_with_consensus"] = pair_agreement(submission.tiers, consensus) if consensus else None
    return detail


def task_consensus(*, task) -> dict:
    """The consensus ranking of a task's counted rankings (ranked, not rejected) and their
    agreement: {"task", "rankings", "consensus", "agreement", "method"}."""
    tiers = list(Ranking.objects.filter(task=task, outcome=RankingOutcome.RANKED)
                 .exclude(review_status=ReviewStatus.REJECTED).values_list("tiers", flat=True))
    return {"task": task.pk, "rankings": len(tiers), "consensus": agreement.consensus_tiers(tiers),
            "agreement": task_agreement(tiers), "method": "ranked pairs (Tideman)"}
