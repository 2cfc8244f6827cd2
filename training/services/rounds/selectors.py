"""Reads for the round dashboard and API: the people's verdict on old vs new, and lineage."""
from __future__ import annotations

from annotate.models import Ranking, RankingOutcome, TaskCandidate
from training.models import ModelVersion, Round
from training.services.evaluation import wilson_interval


def round_human_winrate(rnd: Round) -> dict:
    """The new policy against its parent in the round's blind pairwise tasks, as labelers ranked
    them: a win counts 1, a tie ½ (a "none acceptable" verdict is a tie), with the Wilson 95%
    interval. {"n": 0} until someone has ranked one."""
    if rnd.pairwise_job_id is None or rnd.policy_model_id is None:
        return {"n": 0, "tasks": 0}
    task_ids = list(rnd.pairwise_job.tasks.values_list("pk", flat=True))
    model_of = dict(TaskCandidate.objects.filter(task_id__in=task_ids).values_list(
        "candidate_id", "candidate__model_version_id"))
    new, old = rnd.policy_model_id, rnd.base_policy_id
    wins = ties = losses = 0
    for outcome, tiers in Ranking.objects.filter(task_id__in=task_ids).exclude(
            outcome=RankingOutcome.CANT_JUDGE).values_list("outcome", "tiers"):
        if outcome == RankingOutcome.NONE_ACCEPTABLE:
            ties += 1
            continue
        tier = {model_of.get(c): i for i, group in enumerate(tiers) for c in group}
        if new not in tier or old not in tier:
            continue
        if tier[new] < tier[old]:
            wins += 1
        elif tier[new] > tier[old]:
            losses += 1
        else:
            ties += 1
    n = wins + ties + losses
    low, high = wilson_interval(wins + 0.5 * ties, n)
    return {"tasks": len(task_ids), "n": n, "wins": wins, "ties": ties, "losses": losses,
            "win_rate": (wins + 0.5 * ties) / n if n else None, "ci_low": low, "ci_high": high}


def round_lineage(rnd: Round) -> list[ModelVersion]:
    """The policy's ancestry, newest first: new policy, its parent, … the root."""
    chain, model, seen = [], rnd.policy_model or rnd.base_policy, set()
    while model is not None and model.pk not in seen:
        chain.append(model)
        seen.add(model.pk)
        model = model.parent
    return chain


def round_tasks_by_model(rnd: Round) -> dict:
    """How many candidates of the round's generated tasks each policy wrote."""
    if rnd.generate_job_id is None:
        return {}
    rows = TaskCandidate.objects.filter(task__generation_job_id=rnd.generate_job_id).values_list(
        "candidate__model_version__name", flat=True)
    out: dict[str, int] = {}
    for name in rows:
        out[name or "?"] = out.get(name or "?", 0) + 1
    return out
