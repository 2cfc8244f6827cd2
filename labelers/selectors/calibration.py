"""Calibration feedback for a labeler: where their rankings differed from the other labelers'
consensus and from gold, on their own finished tasks. They see only their own answers and the
consensus, never another labeler's individual answer: a consensus of a single other labeler
would be that labeler's ranking, so it is shown only when at least MIN_OTHERS labelers make it.
Answers are numbered as the labeler saw them in the workspace (1..K, their shown order)."""
from __future__ import annotations

from annotate.models import Demonstration, Project, Ranking, RankingOutcome, ReviewStatus, TaskState
from core.ranking import pair_counts
from labelers import agreement

MIN_OTHERS = 2
HIDDEN = ("Only one other labeler has ranked this task: their consensus would be their own ranking, so it stays "
          "hidden until more labelers have done the task.")


def _letters(order: list[int]) -> dict[int, str]:
    """{candidate id: its number as this labeler saw it}."""
    return {cid: str(i + 1) for i, cid in enumerate(order)}


def _pairs(diffs: list[dict], letter: dict) -> list[dict]:
    out = []
    for d in diffs:
        a, b = letter.get(d["a"], "?"), letter.get(d["b"], "?")
        words = {1: f"{a} above {b}", 0: f"{a} tied with {b}", -1: f"{b} above {a}"}
        out.append({"a": a, "b": b, "mine": words[d["mine"]], "reference": words[d["reference"]]})
    return out


def calibration_for_labeler(*, project: Project, user, limit: int = 50) -> dict:
    """{"items": [...], "reviews": [...], "summary": {...}} for the labeler's finished ranking
    tasks that reached consensus (complete, ranked by at least one other labeler) or are gold."""
    mine = (Ranking.objects.filter(task__project=project, labeler=user, outcome=RankingOutcome.RANKED)
            .select_related("task", "task__prompt").order_by("-created_at"))
    items, agree_sum, pair_sum, gold_scores = [], 0.0, 0, []
    for ranking in mine[: limit * 3]:
        task = ranking.task
        texts = {c.pk: c.text for c in task.candidates.all()}
        order = ranking.shown_order or sorted(texts)
        letter = _letters(order)
        item = {"ranking": ranking, "task": task, "prompt": task.prompt.text,
                "candidates": [{"letter": letter[c], "text": texts.get(c, "")} for c in order],
                "mine": _tiers_text(ranking.tiers, letter), "consensus": None, "gold": None,
                "consensus_diffs": [], "gold_diffs": [], "agreement": None, "gold_score": None}
        if task.is_gold and task.gold_answer:
            gold = task.gold_answer.get("tiers")
            item["gold_score"] = agreement.gold_score(tiers=ranking.tiers, flags=ranking.flags,
                                                      gold_answer=task.gold_answer)
            gold_scores.append(item["gold_score"])
            if gold:
                item["gold"] = _tiers_text(gold, letter)
                item["gold_diffs"] = _pairs(agreement.pair_differences(ranking.tiers, gold), letter)
            missed = _missed_flags(ranking.flags, task.gold_answer.get("must_flag"), letter)
            item["missed_flags"] = missed
        elif task.state == TaskState.COMPLETE:
            others = [r.tiers for r in Ranking.objects.filter(task=task, outcome=RankingOutcome.RANKED)
                      .exclude(pk=ranking.pk).exclude(review_status=ReviewStatus.REJECTED)]
            if not others:
                continue
            item["others"] = len(others)
            if len(others) < MIN_OTHERS:
                item["consensus_hidden"] = HIDDEN
                items.append(item)
                if len(items) >= limit:
                    break
                continue
            consensus = agreement.consensus_tiers(others)
            agree, pairs = pair_counts(ranking.tiers, consensus)
            agree_sum, pair_sum = agree_sum + agree, pair_sum + pairs
            item["consensus"] = _tiers_text(consensus, letter)
            item["consensus_diffs"] = _pairs(agreement.pair_differences(ranking.tiers, consensus), letter)
            item["agreement"] = agree / pairs if pairs else None
        else:
            continue
        items.append(item)
        if len(items) >= limit:
            break
    reviews = []
    for kind, model in (("ranking", Ranking), ("demonstration", Demonstration)):
        for sub in (model.objects.filter(task__project=project, labeler=user)
                    .exclude(review_status=ReviewStatus.PENDING).order_by("-reviewed_at")[:limit]):
            reviews.append({"kind": kind, "task": sub.task_id, "status": sub.review_status,
                            "comment": sub.review_comment, "reviewed_at": sub.reviewed_at})
    reviews.sort(key=lambda r: r["reviewed_at"] or 0, reverse=True)
    return {"items": items, "reviews": reviews, "summary": {
        "agreement_with_consensus": agree_sum / pair_sum if pair_sum else None,
        "gold_accuracy": sum(gold_scores) / len(gold_scores) if gold_scores else None,
        "tasks": len(items)}}


def _tiers_text(tiers, letter) -> str:
    """e.g. "2 > 1 = 3 > 4" in the labeler's own numbering."""
    return " > ".join(" = ".join(sorted(letter.get(c, "?") for c in tier)) for tier in tiers)


def _missed_flags(flags, must, letter) -> list[str]:
    if not must:
        return []
    given = {str(c): set(v or []) for c, v in (flags or {}).items()}
    pairs = must.items() if isinstance(must, dict) else [(c, []) for c in must]
    missed = []
    for cid, required in pairs:
        name = letter.get(int(cid), "?")
        if not required and not given.get(str(cid)):
            missed.append(f"{name}: should have been flagged")
        for f in required or []:
            if f not in given.get(str(cid), set()):
                missed.append(f"{name}: {f}")
    return missed
