"""Gold tasks: an admin gives a ranking task a known answer."""
from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from annotate.models import Task, TaskKind, TaskState
from labelers.selectors.access import project_role


def gold_answer_check(*, task: Task, gold_answer) -> dict:
    """Normalise a gold answer: {"tiers": [[ids]...]} covering the task's candidates, and/or
    {"must_flag": [ids] | {id: [flag keys]}} naming candidates and flags of the project."""
    from annotate.services.submissions import RankingInput, ranking_check

    if task.kind != TaskKind.RANKING:
        raise ValidationError(f"Only ranking tasks can be gold; this is a {task.kind} task.")
    if not isinstance(gold_answer, Mapping) or not gold_answer or set(gold_answer) - {"tiers", "must_flag"}:
        raise ValidationError('A gold answer is {"tiers": [[ids], ...]} and/or {"must_flag": ...}.')
    out = {}
    if gold_answer.get("tiers"):
        out["tiers"] = ranking_check(task=task, project=task.project,
                                     data=RankingInput(tiers=gold_answer["tiers"]))["tiers"]
    must = gold_answer.get("must_flag")
    if must:
        allowed, keys = set(task.candidate_ids()), set(task.project.flag_keys)
        if not isinstance(must, (Mapping, list)):
            raise ValidationError("must_flag is a list of candidate ids or {candidate id: [flag keys]}.")
        pairs = must.items() if isinstance(must, Mapping) else [(c, []) for c in must]
        cleaned = {}
        for cid, flags in pairs:
            if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
                raise ValidationError(f"must_flag: the flags of candidate {cid} are a list of flag keys.")
            try:
                cid = int(cid)
            except (TypeError, ValueError, OverflowError):
                raise ValidationError(f"must_flag: {cid!r} is not a candidate id.") from None
            if cid not in allowed:
                raise ValidationError(f"must_flag: candidate {cid} is not in this task.")
            unknown = set(flags or []) - keys
            if unknown:
                raise ValidationError(f"must_flag: unknown flag(s) {sorted(unknown)} for this project.")
            cleaned[str(cid)] = sorted(set(flags or []))
        out["must_flag"] = cleaned
    if not out:
        raise ValidationError("A gold answer needs a ranking ('tiers') or must-flag candidates.")
    return out


def gold_access_check(*, admin, task_id: int, lock: bool = False) -> Task:
    """The task, if `admin` administers its project: another project's task is "not found" (like
    a missing one), a member without the admin role is refused."""
    tasks = Task.objects.select_for_update() if lock else Task.objects
    task = tasks.select_related("project").filter(pk=task_id).first()
    role = project_role(user=admin, project_id=task.project_id) if task else None
    if role is None:
        raise Task.DoesNotExist("No such task.")
    if role != "admin":
        raise PermissionDenied("Only an admin of this project can mark gold tasks.")
    return task


@transaction.atomic
def task_mark_gold(*, admin, task_id: int, gold_answer, is_screening: bool = False) -> Task:
    """Make a task gold (or update its answer). Gold tasks are mixed into every labeler's
    stream; screening ones form the qualification set. A task with leases out cannot change."""
    task = gold_access_check(admin=admin, task_id=task_id, lock=True)
    answer = gold_answer_check(task=task, gold_answer=gold_answer)
    if task.active_leases and not task.is_gold:
        raise ValidationError("Labelers hold leases on this task; mark it gold when they are done.")
    task.is_gold, task.gold_answer, task.is_screening = True, answer, bool(is_screening)
    task.state = TaskState.OPEN
    task.save(update_fields=["is_gold", "gold_answer", "is_screening", "state"])
    return task
