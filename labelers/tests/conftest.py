"""Browser fixtures for the label-quality pages: Debian's Chromium through pytest-playwright,
against pytest-django's live_server; every page records CSP violations and script errors."""
import os

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # the sync Playwright API runs a loop

LISTEN_FOR_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective));
"""



@pytest.fixture
def guarded_page(page):
    """The page, failing the test on any CSP violation, dialog or script error."""
    problems = []
    page.add_init_script(LISTEN_FOR_CSP)
    page.on("dialog", lambda d: (problems.append(f"dialog {d.message}"), d.dismiss()))
    page.on("pageerror", lambda e: problems.append(f"page error {e}"))
    # HTTP errors the test asks for (a 400 form, the missing favicon) are not script errors.
    page.on("console", lambda m: m.type == "error" and not m.text.startswith("Failed to load resource")
            and problems.append(f"console {m.text}"))
    page.set_default_timeout(10_000)
    yield page
    try:
        problems += [f"CSP {v}" for v in page.evaluate("window.__csp || []")]
    except Exception:  # noqa: BLE001 - the page may be closed
        pass
    assert problems == []


@pytest.fixture
def browser_login(live_server, page, client):
    """browser_login(user): a logged-in session cookie in the browser."""
    from django.conf import settings

    def do(user):
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        page.context.clear_cookies()
        page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value,
                                   "url": live_server.url}])

    return do
