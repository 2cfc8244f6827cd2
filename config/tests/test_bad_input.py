"""Bad input anywhere in the API answers a 4xx with a sentence, in JSON, never a 500: query
parameters, path ids beyond bigint, deep or NUL-carrying JSON, oversized bodies, and other
projects' objects (404, never 403)."""
import json

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


@pytest.mark.parametrize("url, parameter", [
    ("/api/jobs/?project=abc", "project"), ("/api/jobs/?project=1e5", "project"),
    ("/api/jobs/?project=99999999999999999999", "project"), ("/api/jobs/?status=%00", "status"),
    ("/api/jobs/?kind=%00", "kind"), ("/api/jobs/?status=sleeping", "status"),
    ("/api/rounds/?project=abc", "project"), ("/api/models/?kind=%00", "kind"), ("/api/models/?backend=x", "backend"),
    ("/api/projects/1/review-queue/?mode=%00", "mode"),
])
def test_bad_query_parameters_are_a_400_naming_the_parameter(admin_api, project, url, parameter):
    response = admin_api.get(url.replace("/projects/1/", f"/projects/{project.pk}/"))
    assert response.status_code == 400, response.content
    assert parameter in response.json(), response.json()


def test_good_query_parameters_still_filter(admin_api, admin_user, project):
    from jobs.services import job_create

    job = job_create(kind="noop", user=admin_user, project=project, enqueue=False)
    job_create(kind="noop", user=admin_user, enqueue=False)
    assert [j["id"] for j in admin_api.get(f"/api/jobs/?project={project.pk}&kind=noop&status=queued").json()] \
        == [job.pk]
    assert admin_api.get("/api/models/?kind=policy").status_code == 200
    assert admin_api.get(f"/api/rounds/?project={project.pk}").json() == []


def test_the_schema_declares_the_list_filters(admin_api):
    schema = admin_api.get("/api/schema/?format=json").json()
    names = {path: {p["name"] for p in schema["paths"][path]["get"].get("parameters", [])}
             for path in ("/api/jobs/", "/api/rounds/", "/api/models/")}
    assert names == {"/api/jobs/": {"kind", "status", "project"}, "/api/rounds/": {"project"},
                     "/api/models/": {"kind", "backend"}}


@pytest.mark.parametrize("url", [
    "/api/projects/99999999999999999999/assignments/next/", "/api/assignments/9223372036854775808/",
    "/api/jobs/99999999999999999999/", "/api/tasks/99999999999999999999/gold/",
    "/projects/99999999999999999999/work/",
])
def test_path_ids_beyond_bigint_are_not_found(admin_api, client, admin_user, url):
    client.force_login(admin_user)
    assert client.get(url).status_code == 404
    assert admin_api.post(url, {}, format="json").status_code == 404


def test_json_nested_a_thousand_deep_is_a_400_on_any_endpoint(admin_api, project):
    deep = "[" * 1000 + "]" * 1000
    for url in (f"/api/projects/{project.pk}/exports/", "/api/generations/", "/api/rounds/", "/api/suggestions/",
                "/api/auth/token/"):
        response = admin_api.post(url, '{"options": ' + deep + "}", content_type="application/json")
        assert response.status_code == 400 and "nest" in response.json()["detail"], (url, response.content)
    # Within the limit, nesting is fine (and then judged by the endpoint).
    ok = admin_api.post(f"/api/projects/{project.pk}/exports/", {"options": {"a": [[[1]]]}}, format="json")
    assert ok.status_code != 500


def test_nul_characters_in_free_json_are_a_400(admin_api, project, make_ranking_task):
    task = make_ranking_task(k=2)
    for url, body in [(f"/api/tasks/{task.pk}/gold/", {"gold_answer": {"must_flag": {"x\x00": []}}}),
                      ("/api/suggestions/", {"project": project.pk, "conversation": [{"role": "user", "content": "a\x00"}]}),
                      (f"/api/projects/{project.pk}/exports/", {"options": {"tag": "a\x00"}})]:
        response = admin_api.post(url, body, format="json")
        assert response.status_code == 400 and "NUL" in response.json()["detail"], (url, response.content)


@pytest.mark.parametrize("answer", [{"must_flag": 5}, {"must_flag": "x"}, {"must_flag": [[1]]},
                                    {"must_flag": {"1": 5}}, {"must_flag": {"1": [[1]]}}, {"tiers": 5}, {"tiers": [5]},
                                    {"tiers": [["a"]]}, [1, 2], "gold"])
def test_malformed_gold_answers_are_a_400(admin_api, make_ranking_task, answer):
    task = make_ranking_task(k=2)
    response = admin_api.post(f"/api/tasks/{task.pk}/gold/", {"gold_answer": answer}, format="json")
    assert response.status_code == 400, response.content
    assert json.dumps(response.json())


def test_numbers_beyond_a_float_are_a_400(admin_api, project, make_ranking_task):
    task = make_ranking_task(k=2)
    for url, body in [(f"/api/tasks/{task.pk}/gold/", '{"gold_answer": {"must_flag": [1e400]}}'),
                      (f"/api/projects/{project.pk}/exports/", '{"options": {"x": -1e999}}')]:
        response = admin_api.post(url, body, content_type="application/json")
        assert response.status_code == 400 and "finite" in response.json()["detail"], (url, response.content)


def test_a_ten_megabyte_body_answers_json(admin_api, project):
    big = json.dumps({"options": {"tag": "x" * 10_000_000}})
    response = admin_api.post(f"/api/projects/{project.pk}/exports/", big, content_type="application/json")
    assert response.status_code == 413 and "DATA_UPLOAD_MAX_MEMORY_SIZE" in response.json()["detail"]
    form = admin_api.post(f"/api/projects/{project.pk}/exports/", "options=" + "x" * 10_000_000,
                          content_type="application/x-www-form-urlencoded")
    assert form.status_code == 413 and form["Content-Type"] == "application/json"
    multipart = admin_api.post(f"/api/projects/{project.pk}/imports/", {"kind": "prompts", "source": "x" * 10_000_000},
                               format="multipart")
    assert multipart.status_code == 413 and "DATA_UPLOAD_MAX_MEMORY_SIZE" in multipart.json()["detail"]


def _two_projects(make_user):
    from annotate.services.projects import project_create
    from labelers.services import membership_set

    mine, theirs = project_create(name="Mine", k=2), project_create(name="Theirs", k=2)
    me = make_user("owner")
    membership_set(project=mine, user=me, role="admin")
    return me, mine, theirs


def test_another_projects_alert_is_not_found_like_a_missing_one(make_user):
    from labelers.models import LabelerAlert

    me, mine, theirs = _two_projects(make_user)
    someone = make_user("someone")
    alert = LabelerAlert.objects.create(project=theirs, labeler=someone, kind="paused_gold", message="paused")
    api = APIClient()
    api.force_authenticate(me)
    other = api.post(f"/api/alerts/{alert.pk}/resolve/")
    missing = api.post(f"/api/alerts/{alert.pk + 1000}/resolve/")
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    own = LabelerAlert.objects.create(project=mine, labeler=someone, kind="paused_gold", message="paused")
    assert api.post(f"/api/alerts/{own.pk}/resolve/").status_code == 200


def test_another_projects_submission_is_not_found_for_review(make_user):
    from annotate.services.assignments import task_next_for_labeler
    from annotate.services.projects import candidate_create, prompt_create, task_create
    from annotate.services.submissions import RankingInput, ranking_submit
    from labelers.services import membership_set

    me, mine, theirs = _two_projects(make_user)
    labeler = make_user("lab")
    membership_set(project=theirs, user=labeler, role="labeler")
    prompt = prompt_create(project=theirs, conversation="Q?")
    task_create(project=theirs, prompt=prompt, kind="ranking",
                candidates=[candidate_create(prompt=prompt, text=t, source="t") for t in ("a", "b")])
    a = task_next_for_labeler(user=labeler, project=theirs)
    ranking = ranking_submit(user=labeler, assignment_id=a.pk, data=RankingInput(tiers=[[c] for c in a.shown_order]))
    api = APIClient()
    api.force_authenticate(me)
    body = {"decision": "accepted"}
    other = api.post(f"/api/submissions/ranking/{ranking.pk}/review/", body, format="json")
    missing = api.post(f"/api/submissions/ranking/{ranking.pk + 1000}/review/", body, format="json")
    assert other.status_code == missing.status_code == 404


def test_a_nul_in_a_review_comment_from_the_review_page_is_a_form_error(make_user, client):
    from annotate.services.assignments import task_next_for_labeler
    from annotate.services.projects import candidate_create, prompt_create, task_create
    from annotate.services.submissions import RankingInput, ranking_submit
    from labelers.services import membership_set

    me, mine, _ = _two_projects(make_user)
    labeler = make_user("lab")
    membership_set(project=mine, user=labeler, role="labeler")
    prompt = prompt_create(project=mine, conversation="Q?")
    task_create(project=mine, prompt=prompt, kind="ranking",
                candidates=[candidate_create(prompt=prompt, text=t, source="t") for t in ("a", "b")])
    a = task_next_for_labeler(user=labeler, project=mine)
    ranking = ranking_submit(user=labeler, assignment_id=a.pk, data=RankingInput(tiers=[[c] for c in a.shown_order]))
    client.force_login(me)
    response = client.post(f"/labelers/projects/{mine.pk}/review/ranking/{ranking.pk}/",
                           {"decision": "rejected", "comment": "bad\x00"})
    assert response.status_code == 400 and b"NUL" in response.content
    ranking.refresh_from_db()
    assert ranking.review_status != "rejected"


def test_round_options_nested_five_thousand_deep_are_a_form_error(admin_user, client, project):
    client.force_login(admin_user)
    response = client.post(f"/rounds/projects/{project.pk}/start/", {"method": "dpo", "params": "[" * 5000 + "]" * 5000,
                                                                     "project": project.pk}, follow=True)
    assert response.status_code == 200 and "nest at most" in response.content.decode()


@pytest.mark.parametrize("url", ["/jobs/?kind=%00", "/jobs/?status=a%00b", "/rounds/?project=%00",
                                 "/labelers/projects/1/review/?mode=%00", "/?x%00=1"])
def test_a_nul_in_any_query_parameter_of_a_page_is_a_400(admin_user, client, project, url):
    client.force_login(admin_user)
    assert client.get(url.replace("/projects/1/", f"/projects/{project.pk}/")).status_code == 400


def test_a_nul_in_any_form_field_is_a_400(labeler, client, project, make_ranking_task):
    make_ranking_task(k=2)
    client.force_login(labeler)
    client.get(f"/projects/{project.pk}/work/")
    from annotate.models import Assignment

    a = Assignment.objects.get(labeler=labeler)
    response = client.post(f"/projects/{project.pk}/work/{a.pk}/skip/", {"reason": "no\x00"})
    assert response.status_code == 400
    a.refresh_from_db()
    assert a.state == "active"


def test_the_api_answers_json_even_where_no_view_does(admin_api, client):
    for url in ("/api/no-such-endpoint/", "/api/auth/tokens/not%20a%20key/", "/api/jobs/99999999999999999999/"):
        response = admin_api.get(url)
        assert response.status_code == 404 and response["Content-Type"] == "application/json", url
        assert response.json()["detail"]
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
