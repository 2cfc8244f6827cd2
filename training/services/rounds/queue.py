"""Active learning: the order in which labelers see a round's new ranking tasks.

The "prioritise" job scores the candidates of each new task with the round's reward model (and,
for "rm_disagreement", with the previous round's one too), or reads how much earlier labelers
disagreed on the same prompt, orders the tasks with training/ml/active.py (most informative
first), and writes Task.priority, which the next-task service honours (higher first). The order
is recorded on the round (Round.queue_order) with each task's score and why.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.db import transaction

from annotate.models import Ranking, RankingOutcome, Task, TaskKind
from jobs.models import Job
from jobs.services import JobContext
from training.ml.active import labeler_disagreement, rank_prompts
from training.models import QueueMode, Round

METHOD = {QueueMode.RM_GAP: "min_gap", QueueMode.RM_UNCERTAINTY: "uncertainty"}


@transaction.atomic
def queue_order_apply(*, tasks: Sequence[Task], mode: str, rewards: Mapping[int, Sequence[float]] | None = None,
                      second: Mapping[int, Sequence[float]] | None = None,
                      rankings: Mapping[int, Sequence[Sequence[Sequence[int]]]] | None = None,
                      base_priority: float = 0.0) -> list[dict]:
    """Order `tasks` most informative first and set their priorities (base + N … base + 1).

    rewards / second: {task id: [reward of each candidate]} (rm_* modes); rankings: {task id:
    [tiers of each earlier labeler]} (labeler_disagreement). Tasks without a score keep the base
    priority, after the others. Returns the recorded order."""
    by_id = {t.pk: t for t in tasks}
    if mode == QueueMode.LABELER_DISAGREEMENT:
        scores = labeler_disagreement({tid: rankings.get(tid, []) for tid in by_id})
    else:
        scored = {tid: list(rewards[tid]) for tid in by_id if len(rewards.get(tid, [])) >= 2}
        pair = {tid: list(second[tid]) for tid in scored} if mode == QueueMode.RM_DISAGREEMENT else None
        scores = rank_prompts(scored, second=pair, method=METHOD.get(mode, "min_gap"))
    order, seen = [], set()
    for i, s in enumerate(scores):
        task = by_id[s.prompt]
        task.priority = base_priority + len(scores) - i
        order.append({"task": task.pk, "prompt": task.prompt_id, "score": s.score, "detail": s.detail,
                      "priority": task.priority})
        seen.add(task.pk)
    for task in tasks:
        if task.pk not in seen:
            task.priority = base_priority
            order.append({"task": task.pk, "prompt": task.prompt_id, "score": None, "detail": "not scored",
                          "priority": task.priority})
    Task.objects.bulk_update(list(by_id.values()), ["priority"])
    return order


def _earlier_rankings(tasks: Sequence[Task]) -> dict[int, list]:
    """{task id: tiers of every ranking of earlier tasks on the same prompt}."""
    prompt_of = {t.pk: t.prompt_id for t in tasks}
    by_prompt: dict[int, list] = {}
    rows = Ranking.objects.filter(task__prompt_id__in=set(prompt_of.values()), outcome=RankingOutcome.RANKED) \
        .exclude(task_id__in=list(prompt_of)).values_list("task__prompt_id", "tiers")
    for prompt_id, tiers in rows:
        by_prompt.setdefault(prompt_id, []).append(tiers)
    return {tid: by_prompt.get(pid, []) for tid, pid in prompt_of.items()}


def _rewards(scorer, tasks: Sequence[Task], ctx: JobContext, lo: float, hi: float) -> dict[int, list[float]]:
    out = {}
    for n, task in enumerate(tasks):
        texts = [tc.candidate.text for tc in task.task_candidates.all()]
        out[task.pk] = scorer([task.prompt.conversation] * len(texts), texts)
        if n % 8 == 0:
            ctx.progress(lo + (hi - lo) * n / max(len(tasks), 1), f"scored {n}/{len(tasks)} tasks")
    return out


def prioritise(job: Job, ctx: JobContext) -> dict:
    """Handler of the "prioritise" job kind: params {round_id, mode}."""
    rnd = Round.objects.select_related("reward_model", "generate_job").get(pk=job.params["round_id"])
    mode = job.params.get("mode") or rnd.queue_mode
    tasks = list(Task.objects.filter(generation_job=rnd.generate_job, kind=TaskKind.RANKING)
                 .select_related("prompt").prefetch_related("task_candidates__candidate").order_by("pk"))
    if not tasks:
        return {"order": [], "mode": mode}
    base = float(rnd.params.get("generation", {}).get("priority") or 0.0)
    rewards = second = rankings = None
    if mode == QueueMode.LABELER_DISAGREEMENT:
        rankings = _earlier_rankings(tasks)
    else:
        from training.ml.ppo import RewardModelScorer
        from training.services.registry import model_local_dir

        ctx.log(f"scoring the candidates of {len(tasks)} tasks with {rnd.reward_model.name}")
        rewards = _rewards(RewardModelScorer(str(model_local_dir(rnd.reward_model))), tasks, ctx, 0.05, 0.5)
        if mode == QueueMode.RM_DISAGREEMENT:
            from training.services.rounds.flow import round_previous

            previous = round_previous(rnd.project, before=rnd.number)
            if previous is None or previous.reward_model is None:
                raise ValueError("No earlier round's reward model to compare with; choose another queue order.")
            ctx.log(f"… and with {previous.reward_model.name}")
            second = _rewards(RewardModelScorer(str(model_local_dir(previous.reward_model))), tasks, ctx, 0.5, 0.95)
    order = queue_order_apply(tasks=tasks, mode=mode, rewards=rewards, second=second, rankings=rankings,
                              base_priority=base)
    ctx.log(f"ordered {len(order)} tasks ({QueueMode(mode).label}); first: task {order[0]['task']} "
            f"({order[0]['detail']})")
    return {"order": order, "mode": mode}
