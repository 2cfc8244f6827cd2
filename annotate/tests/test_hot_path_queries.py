"""The SQL statements of the labeler's hot path, next task + submit ranking over the REST API with a
token, as bench/labeler_load.py drives it: the app's CPU per cycle grows with each statement the ORM
builds, so a change that adds one fails here instead of showing up later as a slower benchmark."""
import pytest
from rest_framework.test import APIClient

from annotate.models import Ranking
from annotate.services import assignments
from labelers.services.tokens import token_create

pytestmark = pytest.mark.django_db

# Token lookup, savepoint, membership lock, live-lease check, task pick, lease count, candidates,
# assignment insert, release.
NEXT_STATEMENTS = 9
# Token lookup, savepoint, membership lock, assignment and task lock, ranking insert, assignment
# update, task counters, release.
SUBMIT_STATEMENTS = 8
# A retry of a submitted answer: token lookup, savepoint, membership (none to lock: already
# submitted), assignment lock with the membership check, the stored ranking, release.
RETRY_STATEMENTS = 6


@pytest.fixture
def token_api(labeler):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_create(user=labeler)[1]}")
    return client


def _cycle(api, project) -> None:
    a = api.post(f"/api/projects/{project.pk}/assignments/next/").json()["assignment"]
    response = api.post(f"/api/assignments/{a['id']}/ranking/",
                        {"tiers": [[c["id"]] for c in a["candidates"]]}, format="json")
    assert response.status_code == 201, response.content


def test_next_and_submit_cost_a_fixed_number_of_statements(token_api, project, make_ranking_task,
                                                           django_assert_num_queries, monkeypatch):
    project.gold_rate = 0  # a gold draw would add its own pick
    project.save(update_fields=["gold_rate"])
    for _ in range(3):
        make_ranking_task(k=4)
    # The periodic sweep of expired leases runs in the first cycle only.
    monkeypatch.setattr(assignments, "SWEEP_EVERY_S", 3600.0)
    _cycle(token_api, project)

    with django_assert_num_queries(NEXT_STATEMENTS):
        a = token_api.post(f"/api/projects/{project.pk}/assignments/next/").json()["assignment"]
    with django_assert_num_queries(SUBMIT_STATEMENTS):
        response = token_api.post(f"/api/assignments/{a['id']}/ranking/",
                                  {"tiers": [[c["id"]] for c in a["candidates"]]}, format="json")
    assert response.status_code == 201, response.content
    # A retry of the same answer reads, writes nothing and gets the stored ranking back.
    with django_assert_num_queries(RETRY_STATEMENTS):
        again = token_api.post(f"/api/assignments/{a['id']}/ranking/",
                               {"tiers": [[c["id"]] for c in a["candidates"]]}, format="json")
    assert again.status_code == 201 and again.json()["id"] == response.json()["id"]
    assert Ranking.objects.count() == 2
