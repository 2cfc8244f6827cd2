"""Swagger UI at /api/docs/ comes from the drf-spectacular-sidecar package: it works with no
network beyond this server and under the same strict CSP as every other page."""
import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_is_served_offline_under_the_csp(live_server, page, page_guard, login, admin_user):
    elsewhere = []

    def only_here(route):
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_here)
    login(admin_user)
    response = page.goto(f"{live_server.url}/api/docs/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Ranklab API")
    expect(page.locator(".opblock-tag").first).to_be_visible()
    assert elsewhere == []
