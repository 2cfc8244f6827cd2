"""A project's members page: add, change role, pause, unpause, remove, create an account."""
import re

import pytest
from django.contrib.auth import authenticate
from django.test import RequestFactory

from annotate.models import Assignment, AssignmentState, Membership
from annotate.services.assignments import task_next_for_labeler

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
    # With a request, as every login has one (django-axes counts failures per address).
    assert authenticate(RequestFactory().post("/accounts/login/"), username="newbie", password=password) is not None
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


def test_the_add_forms_suggestions_are_only_people_the_admin_already_works_with(client, project, make_user):
    from annotate.services.projects import project_create
    from labelers.services import membership_set

    owner = make_user("owner")
    membership_set(project=project, user=owner, role="admin")
    mine, theirs = project_create(name="Mine too", k=2), project_create(name="Theirs", k=2)
    membership_set(project=mine, user=owner, role="admin")
    lab_elsewhere = project_create(name="Where I label", k=2)
    membership_set(project=lab_elsewhere, user=owner, role="labeler")
    for name, where in (("colleague", mine), ("stranger", theirs), ("co-labeler", lab_elsewhere),
                        ("already-in", project)):
        membership_set(project=where, user=make_user(name), role="labeler")
    membership_set(project=mine, user=make_user("already-in-too"), role="labeler")
    membership_set(project=project, user=Membership.objects.get(user__username="already-in-too").user, role="labeler")
    make_user("site-admin", role="admin"), make_user("no-project")

    def suggested(user):
        client.force_login(user)
        html = client.get(_url(project)).content.decode()
        datalist = html[html.index('<datalist id="known-users">'):]
        return set(re.findall(r'<option value="([^"]+)">', datalist[:datalist.index("</datalist>")]))

    assert suggested(owner) == {"colleague"}
    # A site admin administers every project: every member of another project, still no bystander.
    assert suggested(make_user("root", role="admin")) == {"colleague", "stranger", "co-labeler"}
