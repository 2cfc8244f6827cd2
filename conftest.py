"""Fixtures shared by every app's tests. Data is built through services, not raw ORM.

Markers: tests that drive Chromium are `browser` (skipped, with the reason, where Debian's
Chromium is not installed); tests that start processes (a Celery worker, a web server) are
`process`; `make test-fast` leaves both out, and the PostgreSQL- and Redis-only ones."""
import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM = "/usr/bin/chromium"
PROCESS_FIXTURES = {"subprocess_env", "celery_worker"}


def pytest_collection_modifyitems(config, items):
    skip_slow = pytest.mark.skip(reason="slow model test: set RANKLAB_SLOW=1")
    no_chromium = pytest.mark.skip(reason=f"browser test: Debian's Chromium is not installed at {CHROMIUM} "
                                          "(apt-get install chromium)")
    pg = settings.IS_POSTGRES
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "page" in fixtures and "browser" not in item.keywords:
            item.add_marker(pytest.mark.browser)
        if fixtures & PROCESS_FIXTURES and "process" not in item.keywords:
            item.add_marker(pytest.mark.process)
        if "browser" in item.keywords and not os.path.exists(CHROMIUM):
            item.add_marker(no_chromium)
        if "slow" in item.keywords and not os.environ.get("RANKLAB_SLOW"):
            item.add_marker(skip_slow)
        if "postgres" in item.keywords and not pg:
            item.add_marker(pytest.mark.skip(reason="needs DATABASE_URL=postgres://…"))
        if "redis" in item.keywords and not settings.REDIS_URL:
            item.add_marker(pytest.mark.skip(reason="needs REDIS_URL"))


@pytest.fixture
def make_user(db):
    from labelers.services import user_create

    def make(username, role="labeler", password="pw-12345678"):
        return user_create(username=username, password=password, role=role)

    return make


@pytest.fixture
def admin_user(make_user):
    return make_user("admin", role="admin")


@pytest.fixture
def project(db):
    from annotate.services.projects import project_create

    return project_create(name="Test project", task_kinds=["ranking", "demonstration", "dialogue"], k=4)


@pytest.fixture
def labeler(make_user, project):
    from labelers.services import membership_set

    user = make_user("labeler1")
    membership_set(project=project, user=user, role="labeler")
    return user


@pytest.fixture
def make_ranking_task(project):
    """make_ranking_task(k=4, prompt="…", texts=[…]) -> Task with k candidates."""
    from annotate.services.projects import candidate_create, prompt_create, task_create

    counter = {"n": 0}

    def make(k=4, prompt=None, texts=None, **task_kwargs):
        counter["n"] += 1
        p = prompt_create(project=project, conversation=prompt or f"Prompt number {counter['n']}?")
        texts = texts or [f"Answer {i} to prompt {counter['n']}" for i in range(k)]
        cands = [candidate_create(prompt=p, text=t, source="test") for t in texts]
        return task_create(project=project, prompt=p, kind="ranking", candidates=cands, **task_kwargs)

    return make


@pytest.fixture
def broker_down(monkeypatch):
    """Every send of a job's message is refused, as a broker that is down refuses it."""
    from kombu.exceptions import OperationalError as BrokerError

    from jobs.tasks import run_job

    def refuse(*args, **kwargs):
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(run_job, "apply_async", refuse)


@pytest.fixture(scope="session")
def bundled_tokenizer_dir():
    """SmolLM2's tokenizer, read from the GGUF once and cached as a plain tokenizer directory."""
    from training.ml.bundled import load_tokenizer

    cache = Path(settings.DATA_DIR) / "test-cache" / "smollm2-tokenizer"
    if not (cache / "tokenizer_config.json").exists():
        tmp = cache.with_name(cache.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        load_tokenizer().save_pretrained(tmp)
        shutil.rmtree(cache, ignore_errors=True)
        tmp.rename(cache)
    return cache


@pytest.fixture(scope="session")
def bundled_tokenizer(bundled_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(bundled_tokenizer_dir))


def _subprocess_db_url() -> str:
    """The URL of the database this test run uses (pytest-django's test database), for
    subprocesses such as a real Celery worker or gunicorn."""
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or "postgres"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


@pytest.fixture
def subprocess_env(transactional_db):
    env = dict(os.environ)
    env.update(DATABASE_URL=_subprocess_db_url(), DJANGO_SETTINGS_MODULE="config.settings.test",
               RANKLAB_DATA_DIR=str(settings.DATA_DIR), PYTHONUNBUFFERED="1")
    return env


@pytest.fixture
def celery_worker(subprocess_env, tmp_path):
    """start(queues="default", extra_env=None) -> Popen of a real `celery worker` (solo pool)
    on the configured broker, ready to consume. Every worker started is stopped at teardown."""
    import subprocess
    import sys
    import time

    started = []

    def start(queues="default,exports,generation,training", extra_env=None):
        log = tmp_path / f"worker-{len(started)}.log"
        env = dict(subprocess_env, **(extra_env or {}))
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-Q", queues,
             "--without-gossip", "--without-mingle", "--loglevel", "INFO", "-n", f"test{len(started)}@%h"],
            env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        proc.log_path = log
        started.append(proc)
        deadline = time.time() + 90
        while time.time() < deadline:
            if b"ready." in log.read_bytes():
                return proc
            if proc.poll() is not None:
                raise RuntimeError(f"celery worker exited: {log.read_text()[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"celery worker not ready in 90 s: {log.read_text()[-3000:]}")

    yield start
    import signal

    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def free_port() -> int:
    """A free loopback port, for a test that starts a server."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=60.0, interval=0.2, message="condition"):
    """Poll until predicate() is truthy (for results of other processes); returns its value."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


# --- browser tests: Debian's Chromium through pytest-playwright, against live_server ---------------
# One Chromium for the whole session, shared by every app's tests. Every page records dialogs,
# console errors, page errors and Content-Security-Policy violations, and page_guard.axe() runs
# the vendored axe-core; the guard fails a test that caused any problem.

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # the sync Playwright API runs an event loop
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
AXE_JS = "/static/vendor/axe-core-4.14.1/axe.min.js"
LISTEN_FOR_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});
"""
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.filter((v) => v.impact === 'critical' || v.impact === 'serious').map((v) => (
    {id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 4).map((n) => n.target.join(' '))}));
}"""


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    from playwright.sync_api import expect

    expect.set_options(timeout=10_000)  # the machine is shared: room before a slow render is a failure
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}}


class PageGuard:
    """Records dialogs, script errors, console errors and Content-Security-Policy violations of a
    page; assert_clean() fails on any. With all_console_errors, every console error counts (but
    the HTTP errors a test asks for, "Failed to load resource"); else only CSP reports do. A
    confirm() a test means to answer is announced with expect_dialog()."""

    def __init__(self, page, base_url: str = "", *, all_console_errors: bool = False):
        self.page, self.base_url, self.all_console_errors = page, base_url, all_console_errors
        self.dialogs, self.console_errors, self.page_errors, self.expected_dialogs, self.answered = [], [], [], [], []
        page.add_init_script(LISTEN_FOR_CSP)
        page.on("dialog", self._dialog)
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.set_default_timeout(10_000)

    def _dialog(self, dialog):
        for i, (message, accept) in enumerate(self.expected_dialogs):
            if message == dialog.message:
                del self.expected_dialogs[i]
                self.answered.append(message)
                dialog.accept() if accept else dialog.dismiss()
                return
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def expect_dialog(self, message: str, accept: bool = True) -> None:
        """The next confirm() with this message is answered (OK or Cancel) instead of failing the test."""
        self.expected_dialogs.append((message, accept))

    def csp_violations(self) -> list[str]:
        try:
            return self.page.evaluate("window.__cspViolations || []")
        except Exception:  # noqa: BLE001 - the page may be closed
            return []

    def axe(self, page=None) -> None:
        """Fails on any critical or serious axe-core violation of the page as it is now."""
        page = page or self.page
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(url=self.base_url + AXE_JS)
        found = page.evaluate(AXE_RUN)
        assert found == [], f"axe-core on {page.url}: {found}"

    def assert_clean(self):
        assert self.dialogs == [], f"unexpected dialogs: {self.dialogs}"
        assert self.page_errors == [], f"JavaScript errors: {self.page_errors}"
        assert self.csp_violations() == [], f"CSP violations: {self.csp_violations()}"
        counted = [m for m in self.console_errors if (not m.startswith("Failed to load resource")
                                                      if self.all_console_errors else "Content Security Policy" in m)]
        assert counted == [], f"console errors: {counted}"


@pytest.fixture
def page_guard(page, live_server):
    guard = PageGuard(page, live_server.url)
    yield guard
    guard.assert_clean()


@pytest.fixture
def guarded_page(page, live_server):
    """The page, failing the test on any CSP violation, dialog, script or console error."""
    guard = PageGuard(page, live_server.url, all_console_errors=True)
    yield page
    guard.assert_clean()


@pytest.fixture
def login(live_server, page, client):
    """login(user) puts a logged-in session cookie into the browser (or `context`), in place of any
    earlier one (the UI login is tested once)."""

    def do(user, context=None):
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        context = context or page.context
        context.clear_cookies()
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}])

    return do


@pytest.fixture
def screenshot(page):
    """screenshot(name): with RANKLAB_SCREENS=<dir>, saves the page at 1280 px and 375 px wide
    (full page), for people to look at; without it, does nothing."""
    folder = os.environ.get("RANKLAB_SCREENS")

    def take(name: str):
        if not folder:
            return
        Path(folder).mkdir(parents=True, exist_ok=True)
        size = page.viewport_size
        for width, height in ((1280, 800), (375, 740)):
            page.set_viewport_size({"width": width, "height": height})
            page.screenshot(path=str(Path(folder) / f"{name}-{width}.png"), full_page=True)
        page.set_viewport_size(size)

    return take
