"""Styled error pages with a way back (DEBUG is off here, as in `make run`), and /favicon.ico."""
import pytest
from django.urls import path

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
