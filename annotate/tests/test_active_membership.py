"""Only an active member works on a project: a labeler removed from it, or paused, can no longer
read, answer, skip, renew or ask suggestions for an assignment they were leased there, over the
API or the page."""
import pytest
from rest_framework.test import APIClient

from annotate.models import Assignment, AssignmentState, Membership, Ranking, Task
from annotate.services.assignments import task_next_for_labeler
from labelers.services.members import member_pause, member_remove, member_unpause

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def api(labeler):
    client = APIClient()
    client.force_authenticate(labeler)
    return client


@pytest.fixture
def leased(labeler, project, make_ranking_task):
    """A live lease on a ranking task of two candidates (the task needs two answers)."""
    make_ranking_task(k=2, submissions_required=2)
    return task_next_for_labeler(user=labeler, project=project)


@pytest.fixture
def gold_that_pauses(labeler, admin_user, project, make_ranking_task):
    """The labeler's lease on a gold task whose answer (candidates two, one) is far enough off the
    gold (one, two) to pause them in the same submission: (assignment, one, two)."""
    from annotate.models import TaskCandidate
    from labelers.services import membership_set
    from labelers.services.gold import task_mark_gold

    membership_set(project=project, user=admin_user, role="admin")
    project.gold_rate, project.pause_below_gold_accuracy, project.quality_min_samples = 1.0, 0.9, 1
    project.save()
    task = make_ranking_task(k=2)
    one, two = TaskCandidate.objects.filter(task=task).order_by("position").values_list("candidate_id", flat=True)
    task_mark_gold(admin=admin_user, task_id=task.pk, gold_answer={"tiers": [[one], [two]]})
    return task_next_for_labeler(user=labeler, project=project), one, two


def _api_calls(api, assignment):
    one, two = assignment.shown_order
    base = f"/api/assignments/{assignment.pk}"
    return {
        "read": api.get(f"{base}/"),
        "ranking": api.post(f"{base}/ranking/", {"tiers": [[one], [two]]}, format="json"),
        "ranking-and-next": api.post(f"{base}/ranking-and-next/", {"tiers": [[one], [two]]}, format="json"),
        "demonstration": api.post(f"{base}/demonstration/", {"text": "An answer."}, format="json"),
        "skip": api.post(f"{base}/skip/", {"reason": "unclear"}, format="json"),
        "renew": api.post(f"{base}/renew/"),
        "suggestions": api.post(f"{base}/suggestions/", {"conversation": [{"role": "user", "content": "Hi"}]},
                                format="json"),
    }


def test_a_removed_member_can_no_longer_reach_their_assignment_over_the_api(api, labeler, admin_user, project,
                                                                            leased):
    member_remove(admin=admin_user, project=project, user=labeler)
    # The task still needs answers, so before this check the late-answer rule took the lease back.
    for call, response in _api_calls(api, leased).items():
        assert response.status_code == 404, (call, response.content)
        assert "No such assignment for you." in str(response.json()), call
    assert not Ranking.objects.exists()
    leased.refresh_from_db()
    assert leased.state == AssignmentState.EXPIRED
    assert Task.objects.get(pk=leased.task_id).active_leases == 0


def test_a_membership_deleted_under_a_live_lease_is_refused_too(api, labeler, project, leased):
    Membership.objects.filter(user=labeler, project=project).delete()
    for call, response in _api_calls(api, leased).items():
        assert response.status_code == 404, (call, response.content)
    assert not Ranking.objects.exists()
    assert Assignment.objects.get(pk=leased.pk).state == AssignmentState.ACTIVE


def test_a_paused_member_is_told_why_and_their_lease_goes_back(api, labeler, admin_user, project, leased):
    member_pause(admin=admin_user, project=project, user=labeler, reason="checking your answers")
    assert Task.objects.get(pk=leased.task_id).active_leases == 0
    for call, response in _api_calls(api, leased).items():
        assert response.status_code == 403, (call, response.content)
        assert response.json() == {"detail": "Your work on this project is paused: checking your answers."}, call
    assert not Ranking.objects.exists()
    # Resumed, their answer to the expired lease is taken while the task still needs it.
    member_unpause(admin=admin_user, project=project, user=labeler)
    one, two = leased.shown_order
    response = api.post(f"/api/assignments/{leased.pk}/ranking/", {"tiers": [[two], [one]]}, format="json")
    assert response.status_code == 201, response.content
    assert Ranking.objects.get().assignment_id == leased.pk


def test_a_pause_set_under_a_live_lease_refuses_its_answer(api, labeler, project, leased):
    Membership.objects.filter(user=labeler, project=project).update(is_paused=True, paused_reason="")
    one, two = leased.shown_order
    response = api.post(f"/api/assignments/{leased.pk}/ranking/", {"tiers": [[one], [two]]}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Your work on this project is paused: ask an admin."}
    assert not Ranking.objects.exists()


def _page_posts(client, project, assignment):
    base = f"/projects/{project.pk}/work/{assignment.pk}"
    return {
        "ranking": client.post(f"{base}/ranking/", {"tiers": "[[1],[2]]"}, **HTMX),
        "demonstration": client.post(f"{base}/demonstration/", {"text": "An answer."}, **HTMX),
        "skip": client.post(f"{base}/skip/", {"reason": "unclear"}, **HTMX),
    }


def test_the_workspace_page_refuses_removed_and_paused_members(client, labeler, admin_user, project, leased):
    client.force_login(labeler)
    member_pause(admin=admin_user, project=project, user=labeler, reason="checking your answers")
    for call, response in _page_posts(client, project, leased).items():
        assert response.status_code == 403, call
        assert response.content.decode() == "Your work on this project is paused: checking your answers.", call
    member_unpause(admin=admin_user, project=project, user=labeler)
    member_remove(admin=admin_user, project=project, user=labeler)
    assert client.get(f"/projects/{project.pk}/work/").status_code == 404
    for call, response in _page_posts(client, project, leased).items():
        assert response.status_code == 404, call
    assert not Ranking.objects.exists()


def test_the_page_takes_an_assignment_only_under_its_own_project(client, labeler, project, leased):
    """A member of two projects, removed from one, cannot answer its lease through the other's URL."""
    from annotate.services.projects import project_create
    from labelers.services import membership_set

    other = project_create(name="Other project", task_kinds=["ranking"], k=2)
    membership_set(project=other, user=labeler, role="labeler")
    client.force_login(labeler)
    response = client.post(f"/projects/{other.pk}/work/{leased.pk}/ranking/", {"tiers": "[[1],[2]]"}, **HTMX)
    assert response.status_code == 404
    Membership.objects.filter(user=labeler, project=project).delete()
    response = client.post(f"/projects/{other.pk}/work/{leased.pk}/ranking/", {"tiers": "[[1],[2]]"}, **HTMX)
    assert response.status_code == 404
    assert not Ranking.objects.exists()


def test_a_retry_of_the_answer_that_paused_the_labeler_gets_the_stored_answer(api, labeler, project,
                                                                               gold_that_pauses):
    """A gold answer far off pauses its labeler in the same submission; a client that lost that
    response and sends it again hears that it was stored (the same ranking), not "paused", which
    would read as if the answer had been refused. A different answer is still refused."""
    assignment, one, two = gold_that_pauses
    url = f"/api/assignments/{assignment.pk}/ranking/"
    first = api.post(url, {"tiers": [[two], [one]]}, format="json")
    assert first.status_code == 201, first.content
    assert Membership.objects.get(user=labeler, project=project).is_paused
    again = api.post(url, {"tiers": [[two], [one]]}, format="json")
    assert again.status_code == 201, again.content
    assert again.json()["id"] == first.json()["id"]
    changed = api.post(url, {"tiers": [[one], [two]]}, format="json")
    assert changed.status_code == 400
    assert "cannot be changed" in str(changed.json())
    assert Ranking.objects.count() == 1


def test_a_page_answer_that_paused_the_labeler_says_it_was_saved(client, labeler, project, gold_that_pauses):
    """The answer is stored and then no next task can be handed out: the message says both, so the
    labeler does not take the 403 for a refusal of the answer still on their screen."""
    assignment, one, two = gold_that_pauses
    pos = {cid: str(i) for i, cid in enumerate(assignment.shown_order, start=1)}
    client.force_login(labeler)
    response = client.post(f"/projects/{project.pk}/work/{assignment.pk}/ranking/",
                           {"tiers": f"[[{pos[two]}],[{pos[one]}]]"}, **HTMX)
    assert response.status_code == 403
    assert response.content.decode().startswith("Ranking saved. Your work on this project is paused: gold accuracy")
    assert response["X-Ranklab-Saved"] == "true"
    assert Ranking.objects.get().assignment_id == assignment.pk


def test_a_removal_between_the_pages_read_and_its_write_is_a_404(client, labeler, project, leased):
    """The page reads the assignment, then the service locks it: a removal committed in between
    (here: run just before the service's membership lock) is "not found", as it is over the API."""
    from django.db import connection

    membership = Membership.objects.get(user=labeler, project=project)

    def removed_meanwhile(execute, sql, params, many, context):
        if sql.startswith('SELECT "labelers_membership"."id"') and "NOT EXISTS" in sql:
            execute('DELETE FROM "labelers_membership" WHERE "id" = %s', [membership.pk], False, context)
        return execute(sql, params, many, context)

    client.force_login(labeler)
    with connection.execute_wrapper(removed_meanwhile):
        response = client.post(f"/projects/{project.pk}/work/{leased.pk}/ranking/", {"tiers": "[[1],[2]]"}, **HTMX)
    assert response.status_code == 404
    assert not Ranking.objects.exists()
