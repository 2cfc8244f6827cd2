"""Honest rounds: a round holds after the reward step when its reward model has not learned
(held-out accuracy below the project's threshold, or a 95 % interval that includes chance), says
what to do, and "continue anyway" (service, API, page, manage.py round) carries it on to the
policy step."""
import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from jobs.models import JobStatus
from jobs.services import job_run
from training.models import ModelKind, ModelVersion, ProjectLoop, Round, RoundStatus, RoundStep
from training.services.rounds import round_continue, round_job_finished, round_start
from training.tests.test_rounds import TINY_ROUND, _label_all


@pytest.fixture
def at_reward_step(project, labeler, make_ranking_task, tiny_base, admin_user):
    """start(metrics, params=None) -> a round whose export ran for real and whose reward job
    finished with a reward model holding these held-out metrics (the hook has run)."""
    for i in range(6):
        make_ranking_task(k=4, texts=[f"Reply {i}" + "!" * n for n in range(4)])
    _label_all(project, labeler)

    def start(metrics, params=None):
        rnd = round_start(project=project, method="dpo", base_policy=tiny_base, user=admin_user,
                          params={**TINY_ROUND, "rm_check": True, **(params or {})})
        job_run(job_id=rnd.current_job_id)  # the export, for real
        rnd.refresh_from_db()
        assert rnd.step == RoundStep.REWARD, rnd.error
        job = rnd.reward_job
        job.status = JobStatus.SUCCEEDED
        job.save()
        ModelVersion.objects.create(name=f"rm-{rnd.pk}", kind=ModelKind.REWARD, parent=tiny_base,
                                    backend="transformers", location=tiny_base.location, metrics=metrics,
                                    produced_by_job=job, export_snapshot=rnd.export)
        round_job_finished(job)
        rnd.refresh_from_db()
        return rnd

    return start


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("metrics, sentence", [
    ({"eval_accuracy": 0.7, "eval_pairs": 10}, "its 95 % interval 40%–89% includes chance (50 %)"),
    ({"eval_accuracy": 0.55, "eval_pairs": 4000}, "held-out accuracy is 55% on 4000 pairs (95 % interval 53%–57%), "
                                                  "below this project's threshold of 60%"),
    ({"eval_accuracy": None, "eval_pairs": 0}, "no held-out accuracy"),
])
def test_a_reward_model_that_has_not_learned_holds_the_round(at_reward_step, metrics, sentence):
    rnd = at_reward_step(metrics)
    assert rnd.status == RoundStatus.HELD and rnd.step == RoundStep.REWARD
    assert rnd.policy_job_id is None and rnd.reward_model.name == f"rm-{rnd.pk}"
    assert sentence in rnd.error
    assert "Label more comparisons" in rnd.error and "more steps" in rnd.error and "another preset" in rnd.error
    assert "continue anyway" in rnd.error


@pytest.mark.django_db(transaction=True)
def test_the_project_threshold_decides(at_reward_step, project):
    ProjectLoop.objects.create(project=project, rule="shorter", rm_min_accuracy=0.9)
    rnd = at_reward_step({"eval_accuracy": 0.8, "eval_pairs": 400})
    assert rnd.status == RoundStatus.HELD and "threshold of 90%" in rnd.error


@pytest.mark.django_db(transaction=True)
def test_a_reward_model_that_learned_goes_on_to_the_policy_step(at_reward_step):
    rnd = at_reward_step({"eval_accuracy": 0.9, "eval_pairs": 60})
    assert rnd.status == RoundStatus.RUNNING and rnd.step == RoundStep.POLICY and rnd.policy_job_id


@pytest.mark.django_db(transaction=True)
def test_rm_check_off_goes_on(at_reward_step):
    rnd = at_reward_step({"eval_accuracy": 0.5, "eval_pairs": 10}, params={"rm_check": False})
    assert rnd.status == RoundStatus.RUNNING and rnd.step == RoundStep.POLICY


@pytest.mark.django_db(transaction=True)
def test_continue_anyway_queues_the_policy_step_and_the_round_goes_on(at_reward_step, admin_user):
    """The round's side of "continue anyway"; the test below trains the policy for real."""
    rnd = round_continue(rnd=at_reward_step({"eval_accuracy": 0.5, "eval_pairs": 12}), user=admin_user)
    assert rnd.status == RoundStatus.RUNNING and rnd.step == RoundStep.POLICY and rnd.error == ""
    assert rnd.params["rm_check_overridden_by"] == "admin"
    job = rnd.policy_job
    assert job.pk == rnd.current_job_id and job.kind == "train_policy" and job.status == JobStatus.QUEUED
    job.status = JobStatus.SUCCEEDED
    job.save()
    policy = ModelVersion.objects.create(name=f"policy-{rnd.pk}", kind=ModelKind.POLICY, parent=rnd.base_policy,
                                         backend="transformers", location=rnd.base_policy.location,
                                         produced_by_job=job, export_snapshot=rnd.export)
    round_job_finished(job)
    rnd.refresh_from_db()
    assert rnd.policy_model == policy and rnd.step == RoundStep.EVALUATE and rnd.status == RoundStatus.RUNNING


@pytest.mark.django_db(transaction=True)
def test_continue_anyway_trains_the_policy(at_reward_step, admin_user):
    rnd = at_reward_step({"eval_accuracy": 0.5, "eval_pairs": 12})
    assert rnd.status == RoundStatus.HELD
    rnd = round_continue(rnd=rnd, user=admin_user)
    assert rnd.status == RoundStatus.RUNNING and rnd.step == RoundStep.POLICY and rnd.error == ""
    assert rnd.params["rm_check_overridden_by"] == "admin"
    job_run(job_id=rnd.current_job_id)  # the DPO policy, for real on the tiny model
    rnd.refresh_from_db()
    assert rnd.policy_model is not None and rnd.policy_model.kind == ModelKind.POLICY
    assert rnd.step == RoundStep.EVALUATE
    with pytest.raises(ValidationError, match="Only a held round can continue anyway"):
        round_continue(rnd=rnd)


@pytest.mark.django_db(transaction=True)
def test_a_held_round_lets_the_next_round_start(at_reward_step):
    held = at_reward_step({"eval_accuracy": 0.5, "eval_pairs": 12})
    assert at_reward_step({"eval_accuracy": 0.5, "eval_pairs": 12}).number == held.number + 1


@pytest.mark.django_db(transaction=True)
def test_continue_through_the_api_the_page_and_the_command(at_reward_step, admin_user, client, capsys):
    from rest_framework.test import APIClient

    rnd = at_reward_step({"eval_accuracy": 0.5, "eval_pairs": 12})
    api = APIClient()
    api.force_authenticate(admin_user)
    shown = api.get(f"/api/rounds/{rnd.pk}/").json()
    assert shown["status"] == "held" and "below this project's threshold" in shown["error"]
    answer = api.post(f"/api/rounds/{rnd.pk}/continue/")
    assert answer.status_code == 202 and answer.json()["step"] == "policy" and answer.json()["status"] == "running"
    again = api.post(f"/api/rounds/{rnd.pk}/continue/")
    assert again.status_code == 400 and "Only a held round can continue anyway" in str(again.json())

    # the page: the held round shows its message and a "continue anyway" button that works
    Round.objects.filter(status=RoundStatus.RUNNING).update(status=RoundStatus.CANCELLED)
    held = at_reward_step({"eval_accuracy": 0.5, "eval_pairs": 12})
    client.force_login(admin_user)
    page = client.get(f"/rounds/{held.pk}/").content.decode()
    assert "below this project&#x27;s threshold" in page and "Continue anyway" in page and f"/rounds/{held.pk}/continue/" in page
    assert client.post(f"/rounds/{held.pk}/continue/").status_code == 302
    held.refresh_from_db()
    assert held.status == RoundStatus.RUNNING and held.step == RoundStep.POLICY

    # the command: `round show` says held, `round continue` carries on
    Round.objects.filter(status=RoundStatus.RUNNING).update(status=RoundStatus.CANCELLED)
    held = at_reward_step({"eval_accuracy": 0.5, "eval_pairs": 12})
    call_command("round", "show", str(held.pk))
    assert '"status": "held"' in capsys.readouterr().out
    call_command("round", "continue", str(held.pk))
    assert "continuing anyway from Train and register policy" in capsys.readouterr().out
    with pytest.raises(CommandError, match="Only a held round can continue anyway"):
        call_command("round", "continue", str(held.pk))
