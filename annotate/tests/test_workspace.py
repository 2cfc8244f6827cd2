"""The workspace's HTML views, through Django's test client: access, forms, htmx fragments."""
import json

import pytest

from annotate.models import Assignment, AssignmentState, Demonstration, Ranking, RankingOutcome
from annotate.services.assignments import task_next_for_labeler
from annotate.services.projects import candidate_create, prompt_create, task_create

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def client_in(client, labeler):
    client.force_login(labeler)
    return client


def _url(project, *parts):
    return "/".join([f"/projects/{project.pk}/work", *map(str, parts)]) + "/"


def test_home_links_each_project_to_its_workspace(client_in, project):
    html = client_in.get("/").content.decode()
    assert f'href="/projects/{project.pk}/work/"' in html and "Start labelling" in html


def test_ranking_page_shows_candidates_in_shown_order_without_ids_or_models(client_in, labeler, project):
    prompt = prompt_create(project=project, conversation="Name a colour.")
    cands = [candidate_create(prompt=prompt, text=t, source="policy-v7-secret")
             for t in ["alpha text", "beta text", "gamma text", "delta text"]]
    task = task_create(project=project, prompt=prompt, kind="ranking", candidates=cands)
    response = client_in.get(_url(project))
    assert response.status_code == 200
    html = response.content.decode()
    assignment = Assignment.objects.get(labeler=labeler)
    texts = {c.pk: c.text for c in task.candidates.all()}
    shown = [texts[cid] for cid in assignment.shown_order]
    assert [html.index(t) for t in shown] == sorted(html.index(t) for t in shown)
    for cid in assignment.shown_order:
        assert f'data-candidate-id="{cid}"' not in html
    assert "policy-v7-secret" not in html
    assert "Content-Security-Policy" in response.headers


def test_ranking_form_maps_positions_to_candidate_ids(client_in, labeler, project, make_ranking_task):
    make_ranking_task(k=3)
    client_in.get(_url(project))
    assignment = Assignment.objects.get(labeler=labeler)
    a, b, c = assignment.shown_order
    response = client_in.post(_url(project, assignment.pk, "ranking"), {
        "tiers": json.dumps([[2], [1, 3]]), "rating_2": "6", "flags_3": ["hallucination", "opinion"],
        "time_on_task_ms": "4200", "rationale": " clear ", "outcome": "ranked",
    }, **HTMX)
    assert response.status_code == 200
    ranking = Ranking.objects.get()
    assert ranking.tiers == [[b], [a, c]]
    assert ranking.ratings == {str(b): 6}
    assert ranking.flags == {str(c): ["hallucination", "opinion"]}
    assert ranking.shown_order == [a, b, c] and ranking.time_on_task_ms == 4200 and ranking.rationale == "clear"
    assert "No work available right now" in response.content.decode()
    assert 'hx-swap-oob="true"' in response.content.decode()


def test_ranking_errors_are_shown_not_swapped(client_in, labeler, project, make_ranking_task):
    make_ranking_task(k=3)
    client_in.get(_url(project))
    assignment = Assignment.objects.get(labeler=labeler)
    response = client_in.post(_url(project, assignment.pk, "ranking"), {"tiers": "[[1],[2]]"}, **HTMX)
    assert response.status_code == 400
    assert "exactly the task's candidates" in response.content.decode()
    response = client_in.post(_url(project, assignment.pk, "ranking"), {"tiers": "[[1],[2],[9]]"}, **HTMX)
    assert response.status_code == 400 and "There is no candidate 9" in response.content.decode()
    response = client_in.post(_url(project, assignment.pk, "ranking"), {"outcome": "cant_judge"}, **HTMX)
    assert response.status_code == 400 and "Say why you can't judge" in response.content.decode()
    assert not Ranking.objects.exists()


def test_none_acceptable_ignores_board_and_is_stored(client_in, labeler, project, make_ranking_task):
    make_ranking_task(k=2)
    client_in.get(_url(project))
    assignment = Assignment.objects.get(labeler=labeler)
    response = client_in.post(_url(project, assignment.pk, "ranking"),
                              {"outcome": "none_acceptable", "tiers": "[[1],[2]]"})
    assert response.status_code == 302
    assert Ranking.objects.get().outcome == RankingOutcome.NONE_ACCEPTABLE and Ranking.objects.get().tiers == []


def test_non_member_gets_404_for_project_pages_and_others_assignments(client, make_user, labeler, project,
                                                                      make_ranking_task):
    make_ranking_task(k=2)
    assignment = task_next_for_labeler(user=labeler, project=project)
    outsider = make_user("outsider")
    client.force_login(outsider)
    assert client.get(_url(project)).status_code == 404
    assert client.post(_url(project, assignment.pk, "ranking"), {"tiers": "[[1],[2]]"}).status_code == 404
    assert client.post(_url(project, assignment.pk, "skip"), {"reason": "x"}).status_code == 404
    assert client.post(f"/projects/{project.pk}/preview/", {"text": "x"}).status_code == 404
    assert Assignment.objects.get(pk=assignment.pk).state == AssignmentState.ACTIVE


def test_member_cannot_submit_another_members_assignment(client, make_user, labeler, project, make_ranking_task):
    from labelers.services import membership_set

    make_ranking_task(k=2)
    assignment = task_next_for_labeler(user=labeler, project=project)
    other = make_user("other")
    membership_set(project=project, user=other)
    client.force_login(other)
    assert client.post(_url(project, assignment.pk, "ranking"), {"tiers": "[[1],[2]]"}).status_code == 404
    assert not Ranking.objects.exists()


def test_anonymous_is_sent_to_login(client, project):
    response = client.get(_url(project))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_csrf_is_enforced_on_writes(labeler, project, make_ranking_task):
    from django.test import Client

    make_ranking_task(k=2)
    assignment = task_next_for_labeler(user=labeler, project=project)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(labeler)
    assert strict.post(_url(project, assignment.pk, "skip"), {"reason": "x"}).status_code == 403
    assert Assignment.objects.get(pk=assignment.pk).state == AssignmentState.ACTIVE


def test_skip_needs_a_reason_and_the_task_is_not_shown_again(client_in, labeler, project, make_ranking_task):
    make_ranking_task(k=2)
    client_in.get(_url(project))
    assignment = Assignment.objects.get(labeler=labeler)
    response = client_in.post(_url(project, assignment.pk, "skip"), {"reason": "  "}, **HTMX)
    assert response.status_code == 400 and "Say why you skip" in response.content.decode()
    response = client_in.post(_url(project, assignment.pk, "skip"), {"reason": "Not my language"}, **HTMX)
    assert "No work available right now" in response.content.decode()
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.SKIPPED and assignment.skip_reason == "Not my language"
    assert "No work available right now" in client_in.get(_url(project)).content.decode()


def test_demonstration_records_suggestion_and_edit_distance(client_in, labeler, project):
    prompt = prompt_create(project=project, conversation="Explain rainbows in one sentence.")
    cand = candidate_create(prompt=prompt, text="Sunlight bends in raindrops.", source="model")
    task_create(project=project, prompt=prompt, kind="demonstration", candidates=[cand])
    html = client_in.get(_url(project)).content.decode()
    assert "Insert model suggestion" in html and "Sunlight bends in raindrops." in html
    assignment = Assignment.objects.get(labeler=labeler)
    client_in.post(_url(project, assignment.pk, "demonstration"), {
        "text": "Sunlight bends and splits in raindrops.", "suggestion_candidate_id": str(cand.pk),
        "time_on_task_ms": "1000"}, **HTMX)
    demo = Demonstration.objects.get()
    assert demo.suggestion_used and demo.suggestion_candidate_id == cand.pk
    assert demo.edit_distance == pytest.approx(11 / 39, abs=1e-3)


def test_markdown_preview_is_sanitised(client_in, project):
    html = client_in.post(f"/projects/{project.pk}/preview/", {"text": "**b** <script>x</script>"}).content.decode()
    assert "<strong>b</strong>" in html and "&lt;script&gt;" in html and "<script>" not in html


def test_paused_labeler_is_told_why(client_in, labeler, project):
    from annotate.models import Membership

    Membership.objects.filter(user=labeler).update(is_paused=True, paused_reason="quality review")
    response = client_in.get(_url(project))
    assert response.status_code == 403 and "quality review" in response.content.decode()


def test_preference_strength_only_for_two_candidates(client_in, labeler, project, make_ranking_task):
    make_ranking_task(k=2)
    make_ranking_task(k=3)
    html = client_in.get(_url(project)).content.decode()
    assert 'name="preference_strength" value="slightly_better"' in html
    assignment = Assignment.objects.get(labeler=labeler)
    response = client_in.post(_url(project, assignment.pk, "ranking"), {
        "tiers": "[[2],[1]]", "preference_strength": "slightly_better"}, **HTMX)
    assert Ranking.objects.get().preference_strength == "slightly_better"
    assert 'name="preference_strength"' not in response.content.decode()  # the next task has K = 3


def test_progress_counts_todays_work(client_in, labeler, project, make_ranking_task):
    make_ranking_task(k=2)
    make_ranking_task(k=2)
    client_in.get(_url(project))
    assignment = Assignment.objects.get(labeler=labeler)
    response = client_in.post(_url(project, assignment.pk, "ranking"),
                              {"tiers": "[[1],[2]]", "time_on_task_ms": "125000"}, **HTMX)
    html = response.content.decode()
    assert '<span data-testid="done-today">1</span> done<span class="today"> today</span>' in html and "2 min" in html
