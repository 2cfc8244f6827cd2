"""Browser fixtures for the workspace tests: Debian's Chromium through pytest-playwright,
against pytest-django's live_server. Every page records dialogs, console errors, page errors
and Content-Security-Policy violations; `page_guard` fails a test that caused any."""
import os

import pytest
from playwright.sync_api import expect

# The machine is shared: give assertions room before calling a slow render a failure.
expect.set_options(timeout=10_000)

# Playwright's sync API runs an event loop in this thread; Django's ORM calls in the test body
# are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
LISTEN_FOR_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});
"""


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}}


class PageGuard:
    def __init__(self, page):
        self.page, self.dialogs, self.console_errors, self.page_errors = page, [], [], []
        page.add_init_script(LISTEN_FOR_CSP)
        page.on("dialog", self._dialog)
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def csp_violations(self) -> list[str]:
        try:
            return self.page.evaluate("window.__cspViolations || []")
        except Exception:  # page closed
            return []

    def assert_clean(self):
        assert self.dialogs == [], f"unexpected dialogs: {self.dialogs}"
        assert self.page_errors == [], f"JavaScript errors: {self.page_errors}"
        assert self.csp_violations() == [], f"CSP violations: {self.csp_violations()}"
        csp_console = [m for m in self.console_errors if "Content Security Policy" in m]
        assert csp_console == [], f"CSP violations in the console: {csp_console}"


@pytest.fixture
def page_guard(page):
    guard = PageGuard(page)
    page.set_default_timeout(10_000)
    yield guard
    guard.assert_clean()


@pytest.fixture
def login(live_server, page, client):
    """login(user) puts a logged-in session cookie into the browser (the UI login is tested once)."""
    from django.conf import settings

    def do(user):
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value,
                                   "url": live_server.url}])

    return do
