"""Bad input to the workspace, through the API and the HTML forms alike (they share one validator
per submission kind, annotate/serializers.py): a 4xx with a sentence, never a 500, and nothing
stored wrapped or truncated."""
import json

import pytest
from rest_framework.test import APIClient

from annotate.models import Assignment, Demonstration, Ranking
from annotate.services.projects import prompt_create, task_create

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def api(labeler):
    client = APIClient()
    client.force_authenticate(labeler)
    return client


@pytest.fixture
def form(client, labeler):
    client.force_login(labeler)
    return client


def _lease(api, project) -> dict:
    response = api.post(f"/api/projects/{project.pk}/assignments/next/")
    assert response.status_code == 200, response.content
    return response.json()["assignment"]


def _ranked(a) -> list[list[int]]:
    return [[c["id"]] for c in a["candidates"]]


@pytest.mark.parametrize("value", [2**31, 2**32 + 5, 2**40, 2**63, 2**70, -1])
def test_time_on_task_out_of_the_columns_range_is_a_400_over_the_api(api, project, make_ranking_task, value):
    make_ranking_task(k=2)
    a = _lease(api, project)
    response = api.post(f"/api/assignments/{a['id']}/ranking/", {"tiers": _ranked(a), "time_on_task_ms": value},
                        format="json")
    assert response.status_code == 400 and "time_on_task_ms" in response.json(), response.content
    assert not Ranking.objects.exists()
    fine = api.post(f"/api/assignments/{a['id']}/ranking/", {"tiers": _ranked(a), "time_on_task_ms": 2**31 - 1},
                    format="json")
    assert fine.status_code == 201 and Ranking.objects.get().time_on_task_ms == 2**31 - 1


@pytest.mark.parametrize("value", [str(2**31), str(2**40), str(2**64), "1e400", "-5", "12.5"])
def test_time_on_task_out_of_range_in_the_html_forms_is_a_form_error(form, labeler, project, make_ranking_task,
                                                                     value):
    make_ranking_task(k=2)
    prompt = prompt_create(project=project, conversation="Say hi.")
    task_create(project=project, prompt=prompt, kind="demonstration")
    form.get(f"/projects/{project.pk}/work/")
    a = Assignment.objects.get(labeler=labeler)
    url = f"/projects/{project.pk}/work/{a.pk}/ranking/"
    response = form.post(url, {"tiers": "[[1],[2]]", "time_on_task_ms": value}, **HTMX)
    assert response.status_code == 400 and "time_on_task_ms" in response.content.decode()
    assert not Ranking.objects.exists()
    assert form.post(url, {"tiers": "[[1],[2]]", "time_on_task_ms": "5000"}, **HTMX).status_code == 200
    demo = Assignment.objects.exclude(pk=a.pk).get(labeler=labeler)
    url = f"/projects/{project.pk}/work/{demo.pk}/demonstration/"
    response = form.post(url, {"text": "Hi!", "time_on_task_ms": value}, **HTMX)
    assert response.status_code == 400 and "time_on_task_ms" in response.content.decode()
    assert not Demonstration.objects.exists()


@pytest.mark.parametrize("tiers", [
    "[[1e400],[2]]", "[[1.5],[2]]", "[[true],[2]]", "[1,2]", '{"a":1}', "5", "[[[1]],[2]]",
    "[" * 5000 + "]" * 5000, "not json", '[[1],[2]]"', "[[9],[1,2]]", "[[0],[1],[2]]", f"[[{2**70}],[1],[2]]",
])
def test_junk_rankings_from_the_form_are_form_errors(form, labeler, project, make_ranking_task, tiers):
    make_ranking_task(k=2)
    form.get(f"/projects/{project.pk}/work/")
    a = Assignment.objects.get(labeler=labeler)
    response = form.post(f"/projects/{project.pk}/work/{a.pk}/ranking/", {"tiers": tiers}, **HTMX)
    assert response.status_code == 400, response.content
    assert response.content.decode().strip() and not Ranking.objects.exists()


@pytest.fixture
def dialogue(form, labeler, project):
    prompt = prompt_create(project=project, conversation="Hi")
    task_create(project=project, prompt=prompt, kind="dialogue")
    form.get(f"/projects/{project.pk}/work/")
    return Assignment.objects.get(labeler=labeler)


GOOD_DIALOGUE = json.dumps([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}])


@pytest.mark.parametrize("fields", [
    {"conversation": "[1]"},
    {"conversation": '[{"content":"x"}]'},
    {"conversation": '[{"role":"wizard","content":"x"}]'},
    {"conversation": "[" * 5000 + "]" * 5000},
    {"conversation": '{"role":"user"}'},
    {"conversation": json.dumps([{"role": "user", "content": "a\x00b"}, {"role": "assistant", "content": "c"}])},
    {"conversation": GOOD_DIALOGUE, "suggestions": "5"},
    {"conversation": GOOD_DIALOGUE, "suggestions": '[{"turn":1,"job_id":"x"}]'},
    {"conversation": GOOD_DIALOGUE, "suggestions": '[{"turn":1,"job_id":99999999999999999999999}]'},
    {"conversation": GOOD_DIALOGUE, "suggestions": '[{"turn":"one","candidate_id":1}]'},
    {"conversation": GOOD_DIALOGUE, "suggestions": "[5]"},
])
def test_junk_dialogues_from_the_form_are_form_errors(form, project, dialogue, fields):
    response = form.post(f"/projects/{project.pk}/work/{dialogue.pk}/demonstration/", fields, **HTMX)
    assert response.status_code == 400, response.content
    assert response.content.decode().strip() and not Demonstration.objects.exists()
    ok = form.post(f"/projects/{project.pk}/work/{dialogue.pk}/demonstration/", {"conversation": GOOD_DIALOGUE},
                   **HTMX)
    assert ok.status_code == 200 and Demonstration.objects.count() == 1


def test_without_javascript_a_form_error_is_flashed_on_the_workspace(form, project, dialogue):
    response = form.post(f"/projects/{project.pk}/work/{dialogue.pk}/demonstration/", {"conversation": "[1]"},
                         follow=True)
    assert response.status_code == 200 and "Expected a dictionary" in response.content.decode()


@pytest.mark.parametrize("body", [
    {"rationale": "why\x00"}, {"outcome": "cant_judge", "cant_judge_reason": "a\x00b", "tiers": []},
    {"flags": {"1": ["x\x00"]}},
])
def test_nul_characters_in_a_ranking_are_a_400(api, project, make_ranking_task, body):
    make_ranking_task(k=2)
    a = _lease(api, project)
    response = api.post(f"/api/assignments/{a['id']}/ranking/", {"tiers": _ranked(a), **body}, format="json")
    assert response.status_code == 400 and "nul" in json.dumps(response.json()).lower(), response.content


def test_nul_characters_in_dialogue_turns_and_suggestion_requests_are_a_400(api, project):
    prompt = prompt_create(project=project, conversation="Hi")
    task_create(project=project, prompt=prompt, kind="dialogue")
    a = _lease(api, project)
    turns = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hel\x00lo"}]
    response = api.post(f"/api/assignments/{a['id']}/demonstration/", {"conversation": turns}, format="json")
    assert response.status_code == 400 and not Demonstration.objects.exists()
    response = api.post(f"/api/assignments/{a['id']}/suggestions/",
                        {"conversation": [{"role": "user", "content": "x\x00"}]}, format="json")
    assert response.status_code == 400
    response = api.post(f"/api/assignments/{a['id']}/skip/", {"reason": "nope\x00"}, format="json")
    assert response.status_code == 400


def test_a_ranking_nested_a_thousand_deep_is_a_400(api, project, make_ranking_task):
    make_ranking_task(k=2)
    a = _lease(api, project)
    deep = "[" * 1000 + "]" * 1000
    for url in (f"/api/assignments/{a['id']}/ranking/", f"/api/assignments/{a['id']}/demonstration/",
                f"/api/assignments/{a['id']}/skip/"):
        response = api.post(url, '{"tiers": ' + deep + "}", content_type="application/json")
        assert response.status_code == 400 and "nest" in response.json()["detail"], response.content
