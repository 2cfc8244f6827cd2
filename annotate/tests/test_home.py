"""The home page links each role to its work."""
import pytest

pytestmark = pytest.mark.django_db


def test_labeler_sees_workspace_and_calibration_but_no_admin_links(client, labeler, project):
    client.force_login(labeler)
    page = client.get("/").content.decode()
    assert f"/projects/{project.pk}/work/" in page
    assert f"/labelers/projects/{project.pk}/calibration/" in page
    assert "/jobs/" not in page and f"/exports/projects/{project.pk}/" not in page
    assert f"/labelers/projects/{project.pk}/review/" not in page


def test_admin_sees_every_door(client, admin_user, project):
    client.force_login(admin_user)
    page = client.get("/").content.decode()
    for url in ("/jobs/", "/rounds/", "/training/models/", "/training/playground/", f"/exports/projects/{project.pk}/",
                f"/labelers/projects/{project.pk}/", f"/labelers/projects/{project.pk}/review/"):
        assert url in page, url
        assert client.get(url).status_code == 200, url
