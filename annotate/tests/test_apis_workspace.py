"""The workspace over REST: a script can drive a labeler session with the same services."""
import pytest
from rest_framework.test import APIClient

from annotate.models import Assignment, AssignmentState, Demonstration, Ranking, RankingOutcome
from annotate.services.projects import candidate_create, prompt_create, task_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(labeler):
    client = APIClient()
    client.force_authenticate(labeler)
    return client


def _next(api, project):
    response = api.post(f"/api/projects/{project.pk}/assignments/next/")
    assert response.status_code == 200, response.content
    return response.json()


def test_script_ranks_then_hears_no_work(api, labeler, project, make_ranking_task):
    task = make_ranking_task(k=4)
    body = _next(api, project)
    a = body["assignment"]
    assert a["kind"] == "ranking" and a["task"] == task.pk
    assignment = Assignment.objects.get(pk=a["id"])
    assert [c["id"] for c in a["candidates"]] == assignment.shown_order
    assert [c["position"] for c in a["candidates"]] == [1, 2, 3, 4]
    assert "source" not in a["candidates"][0] and "model_version" not in a["candidates"][0]
    assert api.get(f"/api/assignments/{a['id']}/").json()["id"] == a["id"]
    w, x, y, z = assignment.shown_order
    response = api.post(f"/api/assignments/{a['id']}/ranking/", {
        "tiers": [[y], [w, x], [z]], "ratings": {str(y): 7}, "flags": {str(z): ["hallucination"]},
        "time_on_task_ms": 5000}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["tiers"] == [[y], [w, x], [z]] and response.json()["shown_order"] == [w, x, y, z]
    assert Ranking.objects.get().ratings == {str(y): 7}
    body = _next(api, project)
    assert body["assignment"] is None and "No work available" in body["detail"]
    progress = api.get(f"/api/projects/{project.pk}/progress/").json()
    assert progress["done_today"] == 1 and progress["time_ms_today"] == 5000


def test_bad_rankings_are_refused_with_their_message(api, project, make_ranking_task):
    make_ranking_task(k=2)
    a = _next(api, project)["assignment"]
    one, two = (c["id"] for c in a["candidates"])
    response = api.post(f"/api/assignments/{a['id']}/ranking/", {"tiers": [[one]]}, format="json")
    assert response.status_code == 400 and "exactly the task's candidates" in str(response.json())
    response = api.post(f"/api/assignments/{a['id']}/ranking/", {"tiers": [[one], [two]], "ratings": {str(one): 99}},
                        format="json")
    assert response.status_code == 400 and "outside the scale 1–7" in str(response.json())
    response = api.post(f"/api/assignments/{a['id']}/ranking/", {"outcome": "cant_judge"}, format="json")
    assert response.status_code == 400 and "Say why you can't judge" in str(response.json())
    response = api.post(f"/api/assignments/{a['id']}/ranking/",
                        {"outcome": "cant_judge", "cant_judge_reason": "Needs medical knowledge"}, format="json")
    assert response.status_code == 201
    assert Ranking.objects.get().outcome == RankingOutcome.CANT_JUDGE


def test_skip_over_api(api, labeler, project, make_ranking_task):
    make_ranking_task(k=2)
    a = _next(api, project)["assignment"]
    assert api.post(f"/api/assignments/{a['id']}/skip/", {}, format="json").status_code == 400
    response = api.post(f"/api/assignments/{a['id']}/skip/", {"reason": "Broken prompt"}, format="json")
    assert response.json() == {"assignment": a["id"], "state": "skipped", "skip_reason": "Broken prompt"}
    assert _next(api, project)["assignment"] is None


def test_dialogue_over_api_with_suggestion_distance(api, project):
    prompt = prompt_create(project=project, conversation="Plan a picnic.")
    cand = candidate_create(prompt=prompt, text="Bring bread and fruit.", source="model")
    task_create(project=project, prompt=prompt, kind="dialogue", candidates=[cand])
    a = _next(api, project)["assignment"]
    conversation = [
        {"role": "user", "content": "Plan a picnic."},
        {"role": "assistant", "content": "Bring bread, cheese and fruit."},
        {"role": "user", "content": "And drinks?"},
        {"role": "assistant", "content": "Water and lemonade."},
    ]
    bad = api.post(f"/api/assignments/{a['id']}/demonstration/",
                   {"conversation": conversation, "suggestions": [{"turn": 2, "candidate_id": cand.pk}]}, format="json")
    assert bad.status_code == 400 and "not an assistant turn" in str(bad.json())
    response = api.post(f"/api/assignments/{a['id']}/demonstration/",
                        {"conversation": conversation, "suggestions": [{"turn": 1, "candidate_id": cand.pk}]},
                        format="json")
    assert response.status_code == 201, response.content
    demo = Demonstration.objects.get()
    assert demo.conversation == conversation and demo.suggestion_used and demo.suggestion_candidate_id == cand.pk
    assert 0 < demo.edit_distance < 0.5


def test_suggestion_is_unavailable_without_a_model_then_a_job(api, labeler, project):
    from jobs.models import Job
    from jobs.registry import JOB_KINDS
    from training.services.registry import model_register, project_sampling_models_set

    prompt = prompt_create(project=project, conversation="Hi")
    task_create(project=project, prompt=prompt, kind="dialogue")
    a = _next(api, project)["assignment"]
    url = f"/api/assignments/{a['id']}/suggestions/"
    conversation = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                    {"role": "user", "content": "Tell me a joke"}]
    response = api.post(url, {"conversation": conversation}, format="json")
    assert response.status_code == 503 and "unavailable" in response.json()["detail"]
    bad = api.post(url, {"conversation": conversation[:2]}, format="json")
    assert bad.status_code == 400 and "end with a user turn" in str(bad.json())
    if "suggest" not in JOB_KINDS:
        return
    policy = model_register(name="policy-api-test", backend="openai", location="http://127.0.0.1:9/v1",
                            endpoint_model="none")
    project_sampling_models_set(project=project, models=[policy])
    response = api.post(url, {"conversation": conversation}, format="json")
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["job_id"])
    assert job.kind == "suggest" and job.created_by == labeler and job.params["conversation"] == conversation


def test_non_member_gets_404_and_others_assignments_are_hidden(make_user, labeler, project, make_ranking_task):
    make_ranking_task(k=2)
    client = APIClient()
    client.force_authenticate(labeler)
    a = _next(client, project)["assignment"]
    outsider = APIClient()
    outsider.force_authenticate(make_user("outsider"))
    assert outsider.post(f"/api/projects/{project.pk}/assignments/next/").status_code == 404
    assert outsider.get(f"/api/projects/{project.pk}/progress/").status_code == 404
    assert outsider.get(f"/api/assignments/{a['id']}/").status_code == 404
    one, two = (c["id"] for c in a["candidates"])
    response = outsider.post(f"/api/assignments/{a['id']}/ranking/", {"tiers": [[one], [two]]}, format="json")
    assert response.status_code == 404
    assert outsider.post(f"/api/assignments/{a['id']}/skip/", {"reason": "x"}, format="json").status_code == 404
    assert Assignment.objects.get(pk=a["id"]).state == AssignmentState.ACTIVE
    assert APIClient().post(f"/api/projects/{project.pk}/assignments/next/").status_code in (401, 403)


def test_session_writes_need_csrf(labeler, project, make_ranking_task):
    make_ranking_task(k=2)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(labeler)
    response = client.post(f"/api/projects/{project.pk}/assignments/next/")
    assert response.status_code == 403 and "CSRF" in str(response.json())


def test_workspace_endpoints_are_in_the_openapi_schema():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]
    for path in ("/api/projects/{project_id}/assignments/next/", "/api/assignments/{assignment_id}/ranking/",
                 "/api/assignments/{assignment_id}/demonstration/", "/api/assignments/{assignment_id}/skip/",
                 "/api/assignments/{assignment_id}/suggestions/", "/api/projects/{project_id}/progress/"):
        assert path in paths, path
    ranking = paths["/api/assignments/{assignment_id}/ranking/"]["post"]
    ref = ranking["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert ref == "RankingSubmitInputRequest"
    assert {"tiers", "ratings", "flags", "outcome"} <= set(schema["components"]["schemas"][ref]["properties"])


def test_next_detail_and_submit_render_the_lease_and_the_ranking(api, labeler, project, make_ranking_task):
    """A fresh lease (which carries its candidates' texts) and the same assignment read again
    (which reads them from the database) render alike: the conversation as stored, the
    candidates in this labeler's shown order; the submit answers with the stored ranking."""
    make_ranking_task(k=3, prompt=[{"role": "system", "content": "Be brief."},
                                   {"role": "user", "content": "<b>not html</b> & more"}])
    leased = api.post(f"/api/projects/{project.pk}/assignments/next/")
    assert leased.status_code == 200, leased.content
    fresh = leased.json()["assignment"]
    assert leased.json()["detail"] == "Task leased."
    assignment = Assignment.objects.get(pk=fresh["id"])
    assert fresh["conversation"] == [{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": "<b>not html</b> & more"}]
    assert [c["id"] for c in fresh["candidates"]] == assignment.shown_order
    assert [c["position"] for c in fresh["candidates"]] == [1, 2, 3]
    assert fresh["state"] == "active" and fresh["task"] == assignment.task_id and fresh["kind"] == "ranking"
    assert api.get(f"/api/assignments/{fresh['id']}/").json() == fresh
    a, b, c = assignment.shown_order
    response = api.post(f"/api/assignments/{fresh['id']}/ranking/", {
        "tiers": [[b], [a, c]], "ratings": {str(b): 6}, "flags": {str(c): ["hallucination"]}, "rationale": " why ",
        "time_on_task_ms": 1234}, format="json")
    assert response.status_code == 201, response.content
    ranking = Ranking.objects.get()
    body = response.json()
    assert body["id"] == ranking.pk and body["assignment"] == fresh["id"] and body["task"] == fresh["task"]
    assert body["tiers"] == [[b], [a, c]] and body["ratings"] == {str(b): 6}
    assert body["flags"] == {str(c): ["hallucination"]} and body["rationale"] == "why"
    assert body["time_on_task_ms"] == 1234 and body["shown_order"] == assignment.shown_order


def test_token_authentication(labeler, project, make_ranking_task):
    from labelers.services.tokens import token_create

    make_ranking_task(k=2)
    _, token = token_create(user=labeler)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.post(f"/api/projects/{project.pk}/assignments/next/")
    assert response.status_code == 200 and response.json()["assignment"]["task"]
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    response = client.post(f"/api/projects/{project.pk}/assignments/next/")
    # 403, not 401: the first authentication class (session) sends no WWW-Authenticate header.
    assert response.status_code == 403 and response.json()["detail"] == "Invalid token."
    labeler.is_active = False
    labeler.save()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.post(f"/api/projects/{project.pk}/assignments/next/")
    assert response.status_code == 403 and response.json()["detail"] == "User inactive or deleted."


def test_lease_renewal_over_the_api(api, labeler, make_user, project, make_ranking_task):
    make_ranking_task(k=2)
    a = _next(api, project)["assignment"]
    response = api.post(f"/api/assignments/{a['id']}/renew/")
    assert response.status_code == 200 and response.json()["state"] == "active"
    assert response.json()["expires_at"] >= a["expires_at"]
    outsider = APIClient()
    outsider.force_authenticate(make_user("outsider"))
    assert outsider.post(f"/api/assignments/{a['id']}/renew/").status_code == 404
    one, two = (c["id"] for c in a["candidates"])
    api.post(f"/api/assignments/{a['id']}/ranking/", {"tiers": [[one], [two]]}, format="json")
    response = api.post(f"/api/assignments/{a['id']}/renew/")
    assert response.status_code == 400 and "already submitted" in str(response.json())


def test_ranking_and_next_in_one_round_trip(api, labeler, project, make_ranking_task):
    first, second = make_ranking_task(k=2), make_ranking_task(k=2)
    a = _next(api, project)["assignment"]
    assert a["task"] == first.pk
    one, two = (c["id"] for c in a["candidates"])
    response = api.post(f"/api/assignments/{a['id']}/ranking-and-next/", {"tiers": [[two], [one]]}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["ranking"]["tiers"] == [[two], [one]] and body["ranking"]["assignment"] == a["id"]
    following = body["next"]["assignment"]
    assert following["task"] == second.pk and following["state"] == "active"
    assert Assignment.objects.get(pk=following["id"]).labeler == labeler
    # The same submission again: the first result, and the live lease handed back, not doubled.
    again = api.post(f"/api/assignments/{a['id']}/ranking-and-next/", {"tiers": [[two], [one]]}, format="json")
    assert again.json()["ranking"]["id"] == body["ranking"]["id"]
    assert again.json()["next"]["assignment"]["id"] == following["id"]
    assert Ranking.objects.count() == 1 and Assignment.objects.filter(state="active").count() == 1
    c1, c2 = (c["id"] for c in following["candidates"])
    last = api.post(f"/api/assignments/{following['id']}/ranking-and-next/", {"tiers": [[c1], [c2]]}, format="json")
    assert last.status_code == 201 and last.json()["next"] == {
        "assignment": None, "detail": "No work available right now: every task is done or being worked on by someone else."}
    # Bad input stores nothing and leases nothing.
    assert api.post(f"/api/assignments/{following['id']}/ranking-and-next/", {"tiers": "x"},
                    format="json").status_code == 400


def test_ranking_and_next_keeps_the_answer_when_the_labeler_is_paused(api, labeler, admin_user, project,
                                                                    make_ranking_task):
    """The submission itself pauses the labeler (a wrong gold answer below the threshold): it is
    stored, and the next lease is refused with the reason."""
    from annotate.models import Membership
    from labelers.services.gold import task_mark_gold

    project.gold_rate, project.pause_below_gold_accuracy, project.quality_min_samples = 1.0, 0.6, 1
    project.save()
    gold = make_ranking_task(k=2)
    ids = sorted(gold.candidate_ids())
    task_mark_gold(admin=admin_user, task_id=gold.pk, gold_answer={"tiers": [[ids[0]], [ids[1]]]})
    make_ranking_task(k=2)
    a = _next(api, project)["assignment"]
    assert a["task"] == gold.pk
    response = api.post(f"/api/assignments/{a['id']}/ranking-and-next/", {"tiers": [[ids[1]], [ids[0]]]},
                        format="json")
    assert response.status_code == 201
    reason = Membership.objects.get(user=labeler, project=project).paused_reason
    assert "gold accuracy 0%" in reason
    assert response.json()["next"] == {"assignment": None, "detail": f"Your work on this project is paused: {reason}."}
    assert Ranking.objects.filter(assignment_id=a["id"]).exists()


@pytest.mark.django_db(transaction=True)
def test_a_suggestion_asked_while_the_broker_is_down_says_it_waits(api, labeler, project, broker_down):
    """The job is saved and sent once the queue is back; the workspace shows the sentence (503)."""
    from jobs.models import Job
    from training.services.registry import model_register, project_sampling_models_set

    prompt = prompt_create(project=project, conversation="Hi")
    task_create(project=project, prompt=prompt, kind="dialogue")
    a = _next(api, project)["assignment"]
    project_sampling_models_set(project=project, models=[model_register(
        name="policy-broker-down", backend="openai", location="http://127.0.0.1:9/v1", endpoint_model="none")])
    response = api.post(f"/api/assignments/{a['id']}/suggestions/",
                        {"conversation": [{"role": "user", "content": "Tell me a joke"}]}, format="json")
    job = Job.objects.get(kind="suggest")
    assert response.status_code == 503, response.content
    assert response.json() == {"detail": f"Job {job.pk} is saved, but the task queue is unreachable (OperationalError): "
                                         "it is sent again automatically and starts once the queue is back."}
