"""The round start form starts a round only on the project the admin chose: with several
projects none is picked for them, the form names its project, switching project needs no extra
click, and a start posted for another project than the form's is refused."""
import pytest
from playwright.sync_api import expect

from annotate.services.projects import project_create
from training.models import Round


@pytest.fixture
def two_projects(project):
    return project, project_create(name="Another project", task_kinds=["ranking"])


@pytest.mark.django_db
def test_no_project_is_picked_for_the_admin(client, admin_user, two_projects):
    client.force_login(admin_user)
    html = client.get("/rounds/").content.decode()
    assert 'id="round-start"' not in html and "Choose the project" in html
    first, second = two_projects
    html = client.get(f"/rounds/?project={second.pk}").content.decode()
    assert "Start next round of Another project" in html
    assert f'<input type="hidden" name="project" value="{second.pk}">' in html
    assert 'data-autosubmit' in html


@pytest.mark.django_db
def test_a_start_for_another_project_than_the_forms_is_refused(client, admin_user, two_projects, tiny_base):
    client.force_login(admin_user)
    first, second = two_projects
    url = f"/rounds/projects/{first.pk}/start/"
    for posted in ({}, {"project": str(second.pk)}):
        response = client.post(url, {"method": "dpo", "base_policy": tiny_base.pk, **posted}, follow=True)
        assert "This form was not for Test project" in response.content.decode()
    assert not Round.objects.exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_choosing_a_project_shows_its_form_at_once(live_server, page, page_guard, login, admin_user, two_projects):
    login(admin_user)
    first, second = two_projects
    page.goto(f"{live_server.url}/rounds/")
    expect(page.locator("#round-start")).to_have_count(0)
    page.get_by_label("Project").select_option(str(second.pk))
    expect(page.get_by_role("button", name="Start next round of Another project")).to_be_visible()
    assert page.url.endswith(f"?project={second.pk}")
    page_guard.axe()
