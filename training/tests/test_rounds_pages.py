"""The three doors to rounds — REST API, HTML pages, manage.py — call the same services, check
the same things and are for admins only."""
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import include, path
from rest_framework.test import APIClient

from config.urls import urlpatterns as project_urls
from training.models import Round, RoundStatus, RoundStep
from training.services.registry import model_register
from training.services.rounds import round_start

# config/urls.py mounts training.urls_rounds at rounds/; include it here too in case it does not yet.
urlpatterns = list(project_urls)
if not any(getattr(p, "namespace", None) == "rounds" for p in project_urls if hasattr(p, "namespace")):
    urlpatterns.append(path("rounds/", include("training.urls_rounds")))

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture
def base(tiny_base):
    return tiny_base


@pytest.fixture
def api(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def test_api_starts_lists_shows_and_refuses(api, project, base, labeler):
    response = api.post("/api/rounds/", {"project": project.pk, "method": "rloo", "base_policy": base.pk,
                                         "params": {"generation": {"n_prompts": 5}}}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["number"] == 1 and body["step"] == "export" and body["status"] == "running"
    assert body["jobs"]["export"] == body["current_job"]
    assert body["params"]["generation"]["n_prompts"] == 5 and body["human_win_rate"] == {"n": 0, "tasks": 0}

    again = api.post("/api/rounds/", {"project": project.pk, "base_policy": base.pk}, format="json")
    assert again.status_code == 400 and "Round 1 is still running" in again.content.decode()
    assert api.get(f"/api/rounds/?project={project.pk}").json()[0]["id"] == body["id"]
    assert api.get(f"/api/rounds/{body['id']}/").json()["method"] == "rloo"

    retry = api.post(f"/api/rounds/{body['id']}/retry/")
    assert retry.status_code == 400 and "Only a failed or cancelled round can be retried" in retry.content.decode()
    cancelled = api.post(f"/api/rounds/{body['id']}/cancel/").json()
    assert cancelled["status"] == "cancelled" and "Retry" in cancelled["error"]

    bad = api.post("/api/rounds/", {"project": project.pk, "base_policy": base.pk,
                                    "params": {"policy_config": {"output_dir": "/etc"}}}, format="json")
    assert bad.status_code == 400 and "set by Ranklab: output_dir" in bad.content.decode()
    bad = api.post("/api/rounds/", {"project": project.pk, "base_policy": base.pk, "method": "rloo",
                                    "params": {"policy_config": {"beta_typo": 1}}}, format="json")
    assert bad.status_code == 400 and "Unknown training options: beta_typo" in bad.content.decode()

    labeler_client = APIClient()
    labeler_client.force_authenticate(labeler)
    assert labeler_client.get("/api/rounds/").status_code == 403
    assert labeler_client.post("/api/rounds/", {"project": project.pk}, format="json").status_code == 403


def test_first_round_needs_a_policy_to_start_from(project, base):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="Choose the policy this round starts from"):
        round_start(project=project)
    with pytest.raises(ValidationError, match="needs an earlier round's reward model"):
        round_start(project=project, base_policy=base, queue_mode="rm_disagreement")
    remote = model_register(name="p", backend="openai", location="http://x/v1", endpoint_model="m")
    with pytest.raises(ValidationError, match="served over HTTP; a round trains local weights"):
        round_start(project=project, base_policy=remote)


def test_pages_start_a_round_and_show_its_dashboard(client, admin_user, project, base, labeler):
    client.force_login(admin_user)
    page = client.get(f"/rounds/?project={project.pk}")
    assert page.status_code == 200 and b"Start next round" in page.content
    response = client.post(f"/rounds/projects/{project.pk}/start/", {
        "project": project.pk, "method": "dpo", "base_policy": base.pk, "queue_mode": "rm_gap", "n_prompts": "7",
        "cpu_friendly": "1",
        "params": json.dumps({"policy_config": {"beta": 0.2}})})
    rnd = Round.objects.get()
    assert response.status_code == 302 and response.url == f"/rounds/{rnd.pk}/"
    assert rnd.params["policy_config"]["beta"] == 0.2 and rnd.params["policy_config"]["freeze_layers"] == 24
    assert rnd.params["policy_config"]["cache_frozen"] is True  # the CPU preset's DPO runs its frozen layers once per sequence
    assert rnd.params["generation"]["n_prompts"] == 7 and rnd.queue_mode == "rm_gap"
    page = client.get(f"/rounds/{rnd.pk}/")
    text = page.content.decode()
    assert "Round 1 of Test project" in text and f'/jobs/{rnd.export_job_id}/' in text and 'hx-get=' in text
    # a step's message that carries its own percentage is not preceded by the bar's
    rnd.export_job.__class__.objects.filter(pk=rnd.export_job_id).update(progress=0.63, progress_message="epoch 1: 63%")
    text = client.get(f"/rounds/{rnd.pk}/").content.decode()
    assert "epoch 1: 63%" in text and "63% epoch 1" not in text

    # A finished evaluation shows its win rate, interval and plots; a failure shows what to do.
    Round.objects.filter(pk=rnd.pk).update(status=RoundStatus.FAILED, step=RoundStep.REWARD,
                                           error="The export has no comparisons <b>", evaluation={
        "prompts": 10, "win_rate": 0.7, "ci_low": 0.4, "ci_high": 0.89, "wins": 7, "ties": 0, "losses": 3,
        "split": "test", "kl_from_parent": 0.5, "rewards": {"new": [1.0, 2.0], "parent": [0.5, 0.1]},
        "examples": [{"prompt": "<script>x</script>", "new": "<img src=x>", "parent": "p", "reward_new": 1,
                      "reward_parent": 0}]})
    text = client.get(f"/rounds/{rnd.pk}/").content.decode()
    assert "wins <strong>70%</strong> of 10 held-out prompts" in text and "40–89%" in text
    assert "Retry from" in text and "&lt;b&gt;" in text and "<script>x" not in text and "<img src=x>" not in text
    assert text.count("<svg") >= 4

    bad = client.post(f"/rounds/projects/{project.pk}/start/", {"method": "dpo", "params": "{not json"})
    assert bad.status_code == 302 and "?project=" in bad.url
    client.force_login(labeler)
    assert client.get("/rounds/").status_code == 403


def test_manage_py_round(project, base, capsys):
    call_command("round", "start", project.name, "--base-policy", base.name, "--method", "ppo", "--cpu-friendly",
                 "--params", '{"policy_config": {"ptx_coef": 0.5}}')
    rnd = Round.objects.get()
    assert rnd.method == "ppo" and rnd.params["policy_config"]["steps"] == 8
    assert rnd.params["policy_config"]["ptx_coef"] == 0.5
    call_command("round", "list", project.name)
    assert "round 1\trunning\texport\tppo" in capsys.readouterr().out
    with pytest.raises(CommandError, match="Round 1 is still running"):
        call_command("round", "start", project.name, "--base-policy", base.name)
    with pytest.raises(CommandError, match="--params is not valid JSON"):
        call_command("round", "start", project.name, "--params", "{")
    call_command("round", "cancel", str(rnd.pk))
    assert "cancelled" in capsys.readouterr().out.lower()


def test_training_and_evaluation_steps_run_alone_over_the_api(api, project, base, labeler, make_ranking_task):
    from exports.models import ExportSnapshot
    from exports.services.snapshots import export_start
    from jobs.services import job_run
    from training.tests.test_rounds import _label_all

    for i in range(3):
        make_ranking_task(k=2, texts=[f"Yes {i}", f"No {i}!"])
    _label_all(project, labeler)
    export = ExportSnapshot.objects.get(job=job_run(job_id=export_start(project=project).pk))
    start = {"kind": "train_policy", "project": project.pk, "export": export.pk, "base_model": base.pk}
    response = api.post("/api/trainings/", {**start, "method": "rloo"}, format="json")
    assert response.status_code == 400 and "RLOO needs a reward model" in response.content.decode()
    response = api.post("/api/trainings/", {**start, "method": "dpo", "config": {"beta": 0.2}}, format="json")
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["kind"] == "train_policy" and job["params"]["method"] == "dpo" and job["status"] == "queued"
    response = api.post("/api/evaluations/", {"project": project.pk, "policy": base.pk, "parent": base.pk,
                                              "reward_model": base.pk, "export": export.pk}, format="json")
    assert response.status_code == 400 and "tiny-base is not a reward model" in response.content.decode()
