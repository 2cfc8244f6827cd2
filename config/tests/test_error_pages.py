"""Styled error pages with a way back (DEBUG is off here, as in `make run`), and /favicon.ico."""
import pytest
from django.urls import path

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401 (this test's URLconf uses them)
from config.urls import urlpatterns as project_urls


def broken(request):
    raise RuntimeError("a bug")


urlpatterns = [*project_urls, path("broken/", broken)]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def _styled(response, status: int, title: str):
    html = response.content.decode()
    assert response.status_code == status
    assert f"<title>{title} · Ranklab</title>" in html and "/static/ranklab/base.css" in html
    assert 'href="/">Back to your projects</a>' in html
    assert "URLconf" not in html and "Traceback" not in html
    return html


def test_404_is_styled_and_lists_no_urls(client, labeler):
    client.force_login(labeler)
    _styled(client.get("/no-such-page/"), 404, "Not found")
    _styled(client.get("/projects/999999/work/"), 404, "Not found")


def test_403_says_why(client, labeler):
    client.force_login(labeler)
    html = _styled(client.get("/projects/new/"), 403, "Not allowed")
    assert "Only admins may create or change projects." in html


def test_400_is_styled(client):
    _styled(client.get("/", HTTP_HOST="not-an-allowed-host.example"), 400, "Bad request")


def test_500_is_styled(client):
    client.raise_request_exception = False
    html = _styled(client.get("/broken/"), 500, "Something went wrong")
    assert "a bug" not in html


def test_favicon(client):
    response = client.get("/favicon.ico", follow=True)
    assert response.status_code == 200 and response.redirect_chain[0][0] == "/static/ranklab/favicon.svg"
    assert b"<svg" in b"".join(response.streaming_content)


def test_a_bad_query_parameter_is_a_styled_400_with_its_sentence(client, admin_user):
    client.force_login(admin_user)
    html = _styled(client.get("/rounds/?project=abc"), 400, "Bad request")
    assert "The query parameter &#x27;project&#x27; is not valid: Enter a whole number." in html
    html = _styled(client.get("/jobs/?kind=a%00b"), 400, "Bad request")
    assert "contains a NUL character" in html
    # The workspace's htmx requests show the sentence beside the form: plain text for them.
    partial = client.get("/jobs/?kind=a%00b", HTTP_HX_REQUEST="true")
    assert partial.status_code == 400 and partial["Content-Type"].startswith("text/plain")
    assert partial.content.decode().startswith("The query parameter 'kind' contains a NUL character")


def test_a_body_over_the_size_limit_is_a_styled_413(client, admin_user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client.force_login(admin_user)
    html = _styled(client.post("/projects/new/", {"name": "x" * 2000}), 413, "Too large")
    assert "larger than 1000 bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)" in html
    # Where Django itself finds the body too large (an anonymous form, read by the login view).
    client.logout()
    client.raise_request_exception = False
    html = _styled(client.post("/accounts/login/", {"username": "x" * 2000, "password": "y"}), 413, "Too large")
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in html
    api = client.post("/api/auth/token/", {"username": "x" * 2000}, content_type="application/json")
    assert api.status_code == 413 and api["Content-Type"] == "application/json"
