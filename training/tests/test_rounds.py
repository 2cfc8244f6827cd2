"""Rounds through the job path: a full round on a tiny model through a real Celery worker
(labels → export → RM → DPO policy → evaluation → generation with new + old policy → blind
pairwise tasks → active-learning order), and a failed step that stops the round and resumes
from that step on Retry."""
import pytest
from django.core.exceptions import ValidationError

from conftest import wait_for
from jobs.models import Job, JobStatus
from jobs.services import job_run
from training.models import ModelKind, ModelVersion, QueueMode, Round, RoundStatus, RoundStep
from training.services.rounds import round_retry, round_start

RM_CONFIG = {"max_steps": 4, "batch_size": 4, "max_length": 64, "logging_steps": 1, "device": "cpu",
             "learning_rate": 1e-3}
DPO_CONFIG = {"max_steps": 3, "batch_size": 4, "max_length": 64, "learning_rate": 1e-3}
TINY_ROUND = {
    "reward_config": RM_CONFIG, "policy_config": DPO_CONFIG,
    "evaluation": {"n_prompts": 4, "max_new_tokens": 6, "rm_max_length": 64},
    "generation": {"n_prompts": 4, "max_new_tokens": 6},
    "export_options": {"formats": ["ranked_groups", "preference"], "test_ratio": 0.3},
    "rm_check": False,  # a few steps on a tiny random model cannot learn; tests/test_rounds_held.py holds rounds
}


def _label_all(project, labeler):
    """A simulated labeler ranks every open task through the service layer: shortest answer best."""
    from annotate.services.assignments import task_next_for_labeler
    from annotate.services.submissions import RankingInput, ranking_submit

    n = 0
    while (assignment := task_next_for_labeler(user=labeler, project=project)) is not None:
        cands = {c.pk: c.text for c in assignment.task.candidates.all()}
        order = sorted(cands, key=lambda c: (len(cands[c]), c))
        ranking_submit(user=labeler, assignment_id=assignment.pk, data=RankingInput(tiers=[[c] for c in order]))
        n += 1
    return n


@pytest.fixture
def round_project(project, labeler, make_ranking_task):
    from annotate.services.projects import prompt_create

    for i in range(10):
        make_ranking_task(k=4, prompt=f"Question {i}: what is {i} plus one?",
                          texts=[f"It is {i + 1}." + " Indeed" * n for n in range(4)])
    for i in range(8):
        prompt_create(project=project, conversation=f"New question {i}: name a colour.")
    assert _label_all(project, labeler) == 10
    return project


def _round_finished(pk):
    rnd = Round.objects.get(pk=pk)
    return rnd if rnd.status != RoundStatus.RUNNING else None


def test_full_round_through_celery(celery_worker, round_project, labeler, tiny_base, admin_user):
    project = round_project
    celery_worker("default,exports,generation,training")
    rnd = round_start(project=project, method="dpo", base_policy=tiny_base, queue_mode=QueueMode.RM_GAP,
                      params={**TINY_ROUND, "pairwise_n": 2}, user=admin_user)
    assert rnd.number == 1 and rnd.step == RoundStep.EXPORT
    # Five jobs in a row (export, reward model, policy, evaluation, generation), each a trainer or
    # model load that shares the cores with the other test worker: room for a busy machine.
    rnd = wait_for(lambda: _round_finished(rnd.pk), timeout=600, message="the round")
    assert rnd.status == RoundStatus.SUCCEEDED, (rnd.step, rnd.error)
    assert rnd.step == RoundStep.DONE

    # Every artifact links to its parents.
    export, rm, policy = rnd.export, rnd.reward_model, rnd.policy_model
    assert export.job_id == rnd.export_job_id and export.manifest["counts"]["pairs_all"] > 0
    assert rm.kind == ModelKind.REWARD and rm.parent == tiny_base and rm.export_snapshot == export
    assert rm.produced_by_job_id == rnd.reward_job_id
    assert policy.kind == ModelKind.POLICY and policy.parent == tiny_base and policy.export_snapshot == export
    assert policy.produced_by_job_id == rnd.policy_job_id and policy.config["method"] == "dpo"
    assert rnd.policy_job.params["method"] == "dpo" and "loss" in rnd.policy_job.metrics["series"]

    # RM-judged evaluation against the parent.
    ev = rnd.evaluation
    assert ev["policy_id"] == policy.pk and ev["parent_id"] == tiny_base.pk and ev["prompts"] >= 1
    assert 0 <= ev["ci_low"] <= ev["win_rate"] <= ev["ci_high"] <= 1
    assert len(ev["rewards"]["new"]) == len(ev["rewards"]["parent"]) == ev["prompts"]

    # The next round's tasks: candidates from the new and the previous policy, in every task.
    tasks = list(rnd.generate_job.tasks.prefetch_related("candidates"))
    assert len(tasks) == 4
    for task in tasks:
        writers = {c.model_version_id for c in task.candidates.all()}
        assert writers == {policy.pk, tiny_base.pk}
        assert all(c.generation_job_id == rnd.generate_job_id for c in task.candidates.all())

    # Blind old-vs-new tasks on held-out prompts, disjoint from the generation ones.
    pairwise = list(rnd.pairwise_job.tasks.all())
    assert pairwise and all(t.candidates.count() == 2 for t in pairwise)
    assert not {t.prompt_id for t in pairwise} & {t.prompt_id for t in tasks}

    # Active learning: the recorded order is the order of priorities, smallest reward gap first.
    order = rnd.queue_order
    assert [o["task"] for o in order] == sorted((o["task"] for o in order),
                                                key=lambda t: -Job.objects.get(pk=rnd.generate_job_id)
                                                .tasks.get(pk=t).priority)
    gaps = [-o["score"] for o in order]
    assert gaps == sorted(gaps)

    # People's verdict: the labeler ranks the pairwise tasks; the dashboard's selector counts them.
    from training.services.rounds.selectors import round_human_winrate

    _label_all(project, labeler)
    verdict = round_human_winrate(rnd)
    assert verdict["n"] == len(pairwise)
    assert 0 <= verdict["ci_low"] <= verdict["win_rate"] <= verdict["ci_high"] <= 1

    # Round 2 starts from round 1's policy.
    with pytest.raises(ValidationError, match="Unknown round options: bogus"):
        round_start(project=project, params={"bogus": 1})
    assert ModelVersion.objects.filter(pk=policy.pk).exists()


def _run_current(rnd):
    """Run the round's current job in this process (the same handler and hooks a worker runs)."""
    rnd.refresh_from_db()
    job_run(job_id=rnd.current_job_id)
    rnd.refresh_from_db()
    return rnd


@pytest.mark.django_db(transaction=True)
def test_failed_step_stops_the_round_and_retry_resumes_from_it(project, labeler, make_ranking_task, tiny_base,
                                                               admin_user):
    for i in range(6):
        make_ranking_task(k=4, texts=[f"Reply {i}" + "!" * n for n in range(4)])
    rnd = round_start(project=project, method="dpo", base_policy=tiny_base, params=TINY_ROUND, user=admin_user)
    rnd = _run_current(rnd)  # the export: nobody has ranked anything yet
    assert rnd.status == RoundStatus.FAILED and rnd.step == RoundStep.EXPORT
    assert rnd.export_job.status == JobStatus.SUCCEEDED
    assert "has no comparisons: label some ranking tasks or import HH-RLHF comparisons, then Retry" in rnd.error
    with pytest.raises(ValidationError, match="Only a failed or cancelled round can be retried"):
        round_retry(rnd=Round.objects.create(project=project, number=99, base_policy=tiny_base,
                                          status=RoundStatus.SUCCEEDED))
    first_export_job = rnd.export_job_id

    assert _label_all(project, labeler) == 6
    rnd = round_retry(rnd=rnd)
    assert rnd.status == RoundStatus.RUNNING and rnd.step == RoundStep.EXPORT
    assert rnd.export_job_id != first_export_job
    rnd = _run_current(rnd)
    assert rnd.step == RoundStep.REWARD and rnd.export.manifest["counts"]["pairs_all"] == 6 * 6

    # A training step that fails (here: a config the trainer rejects) is retried as the same job.
    Job.objects.filter(pk=rnd.reward_job_id).update(params={**rnd.reward_job.params,
                                                            "config": {**RM_CONFIG, "batch_size": 0}})
    rnd = _run_current(rnd)
    assert rnd.status == RoundStatus.FAILED and rnd.step == RoundStep.REWARD
    assert rnd.error.startswith("The train reward model step failed:") and rnd.error.endswith("then Retry.")
    failed_job = rnd.reward_job_id
    Job.objects.filter(pk=failed_job).update(params={**rnd.reward_job.params, "config": RM_CONFIG})
    rnd = round_retry(rnd=rnd)
    assert rnd.reward_job_id == failed_job and rnd.current_job.status == JobStatus.QUEUED
    rnd = _run_current(rnd)
    assert rnd.step == RoundStep.POLICY and rnd.reward_model.produced_by_job_id == failed_job
