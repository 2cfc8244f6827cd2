"""Active learning orders the real labeling queue: on synthetic rewards where some prompts have
near-tied candidates, labelers get those prompts first; by labeler disagreement, the prompt
earlier labelers disagreed on comes first. (The "prioritise" job, scoring with a real reward
model, runs in test_rounds.py's full round.)"""
import pytest

from annotate.services.assignments import task_next_for_labeler
from training.models import QueueMode
from training.services.rounds.queue import queue_order_apply

pytestmark = pytest.mark.django_db


def _queue(project, user):
    """The order in which a labeler is served the open tasks (each skipped after it is served)."""
    from annotate.services.assignments import assignment_skip

    served = []
    while (assignment := task_next_for_labeler(user=user, project=project)) is not None:
        served.append(assignment.task_id)
        assignment_skip(user=user, assignment_id=assignment.pk, reason="test: look at the next one")
    return served


def test_near_tied_prompts_come_first(project, labeler, make_ranking_task):
    tasks = [make_ranking_task(k=3) for _ in range(6)]
    rewards = {  # tasks 1 and 4 have two near-tied candidates; the others are easy to tell apart
        tasks[0].pk: [0.0, 2.0, 4.0], tasks[1].pk: [1.0, 1.01, 3.0], tasks[2].pk: [-2.0, 0.0, 2.5],
        tasks[3].pk: [0.0, 1.5, 3.0], tasks[4].pk: [0.5, -1.0, 0.52], tasks[5].pk: [5.0, 0.0, -5.0],
    }
    assert _queue(project, labeler)[:2] == [tasks[0].pk, tasks[1].pk], "without priorities: oldest first"
    order = queue_order_apply(tasks=tasks, mode=QueueMode.RM_GAP, rewards=rewards)
    assert [o["task"] for o in order[:2]] == [tasks[1].pk, tasks[4].pk]
    assert order[0]["detail"] == "smallest reward gap 0.010"
    assert [o["priority"] for o in order] == [6, 5, 4, 3, 2, 1]

    from labelers.services import membership_set  # a fresh labeler's view of the queue

    other = labeler.__class__.objects.create_user("labeler2", password="pw-12345678")
    membership_set(project=project, user=other, role="labeler")
    assert _queue(project, other) == [o["task"] for o in order]

    # Uncertainty (Bradley–Terry entropy) agrees on the near-ties; unscored tasks go last.
    order = queue_order_apply(tasks=tasks, mode=QueueMode.RM_UNCERTAINTY, base_priority=10,
                              rewards={k: v for k, v in rewards.items() if k != tasks[5].pk})
    assert {o["task"] for o in order[:2]} == {tasks[1].pk, tasks[4].pk}
    assert order[-1] == {"task": tasks[5].pk, "prompt": tasks[5].prompt_id, "score": None, "detail": "not scored",
                         "priority": 10}

    # Two reward models that order a prompt's candidates differently put it first.
    second = dict(rewards)
    second[tasks[3].pk] = [3.0, 1.5, 0.0]
    order = queue_order_apply(tasks=tasks, mode=QueueMode.RM_DISAGREEMENT, rewards=rewards, second=second)
    assert order[0]["task"] == tasks[3].pk and order[0]["detail"] == "100% of pairs ordered differently"


def test_labeler_disagreement_first(project, make_ranking_task):
    calm, torn = make_ranking_task(k=2), make_ranking_task(k=2)
    a, b = calm.candidate_ids()
    c, d = torn.candidate_ids()
    order = queue_order_apply(tasks=[calm, torn], mode=QueueMode.LABELER_DISAGREEMENT,
                              rankings={calm.pk: [[[a], [b]], [[a], [b]]], torn.pk: [[[c], [d]], [[d], [c]]]})
    assert [o["task"] for o in order] == [torn.pk, calm.pk]
    assert order[0]["detail"] == "100% of labeler pair judgements conflict"
