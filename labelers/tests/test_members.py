"""A project's members page: add, change role, pause, unpause, remove, create an account."""
import re

import pytest
from django.contrib.auth import authenticate

from annotate.models import Assignment, AssignmentState
from annotate.services.assignments import task_next_for_labeler
from labelers.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _url(project, *parts):
    return "/".join([f"/labelers/projects/{project.pk}/members", *map(str, parts)]) + "/"


def test_members_page_lists_members_and_the_add_form_has_no_internal_fields(admin_client, project, labeler):
    html = admin_client.get(_url(project)).content.decode()
    assert 'data-member="labeler1"' in html
    add_form = html[html.index('action="' + _url(project, "add")):]
    add_form = add_form[:add_form.index("</form>")]
    assert set(re.findall(r'name="([^"]+)"', add_form)) == {"csrfmiddlewaretoken", "add-username", "add-role"}
    for internal in ("paused_reason", "qualification", "quality_since", "qualified_at"):
        assert internal not in html


def test_admin_adds_an_existing_account_with_a_role(admin_client, project, make_user):
    make_user("rita", role="reviewer")
    response = admin_client.post(_url(project, "add"), {"add-username": "rita", "add-role": "reviewer"})
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user__username="rita").role == "reviewer"
    again = admin_client.post(_url(project, "add"), {"add-username": "rita", "add-role": "labeler"})
    assert again.status_code == 400 and "already a member" in again.content.decode()
    missing = admin_client.post(_url(project, "add"), {"add-username": "nobody", "add-role": "labeler"})
    assert missing.status_code == 400 and "no account named" in missing.content.decode()


def test_admin_changes_a_role(admin_client, project, labeler):
    admin_client.post(_url(project, labeler.pk), {"action": "role", "role": "reviewer"})
    assert Membership.objects.get(project=project, user=labeler).role == "reviewer"
    admin_client.post(_url(project, labeler.pk), {"action": "role", "role": "boss"})
    assert Membership.objects.get(project=project, user=labeler).role == "reviewer"


def test_pause_stops_new_work_and_unpause_gives_it_back(admin_client, client, project, labeler, make_ranking_task):
    make_ranking_task(k=2)
    admin_client.post(_url(project, labeler.pk), {"action": "pause"})
    membership = Membership.objects.get(project=project, user=labeler)
    assert membership.is_paused and membership.paused_reason == "paused by admin"
    html = admin_client.get(_url(project)).content.decode()
    assert "Paused" in html and ">Unpause" in html
    from django.test import Client

    worker = Client()
    worker.force_login(labeler)
    assert worker.get(f"/projects/{project.pk}/work/").status_code == 403
    admin_client.post(_url(project, labeler.pk), {"action": "unpause"})
    assert not Membership.objects.get(project=project, user=labeler).is_paused
    assert worker.get(f"/projects/{project.pk}/work/").status_code == 200


def test_remove_keeps_submissions_and_returns_the_held_task(admin_client, project, labeler, make_ranking_task):
    task = make_ranking_task(k=2)
    assignment = task_next_for_labeler(user=labeler, project=project)
    task.refresh_from_db()
    assert task.active_leases == 1
    response = admin_client.post(_url(project, labeler.pk), {"action": "remove"})
    assert response.status_code == 302
    assert not Membership.objects.filter(project=project, user=labeler).exists()
    task.refresh_from_db()
    assert task.active_leases == 0
    assert Assignment.objects.get(pk=assignment.pk).state == AssignmentState.EXPIRED


def test_account_creation_shows_a_generated_password_once(admin_client, project):
    response = admin_client.post(_url(project, "create"), {"new_username": "newbie", "new_role": "labeler"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    html = response.content.decode()
    password = re.search(r'data-testid="new-password">([^<]+)<', html).group(1)
    assert len(password) >= 16
    assert authenticate(username="newbie", password=password) is not None
    assert Membership.objects.get(project=project, user__username="newbie").role == "labeler"
    assert password not in admin_client.get(_url(project)).content.decode()
    taken = admin_client.post(_url(project, "create"), {"new_username": "NEWBIE", "new_role": "labeler"})
    assert taken.status_code == 400 and "is taken" in taken.content.decode()
    bad = admin_client.post(_url(project, "create"), {"new_username": "no spaces!", "new_role": "labeler"})
    assert bad.status_code == 400 and "letters, digits" in bad.content.decode()


def test_members_page_is_for_project_admins_only(client, project, labeler, make_user):
    client.force_login(labeler)
    assert client.get(_url(project)).status_code == 403
    assert client.post(_url(project, "create"), {"new_username": "x", "new_role": "labeler"}).status_code == 403
    outsider = make_user("outsider")
    client.force_login(outsider)
    assert client.get(_url(project)).status_code == 404
