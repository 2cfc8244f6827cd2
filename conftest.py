"""Fixtures shared by every app's tests. Data is built through services, not raw ORM.

Markers: tests that drive Chromium are `browser` (skipped, with the reason, where Debian's
Chromium is not installed); tests that start processes (a Celery worker, a web server) are
`process`; tests that take more than about 5 s without either are `heavy` (HEAVY below);
`make test-fast` leaves all three out, and the PostgreSQL- and Redis-only ones."""
import os
import shutil
import sys
from pathlib import Path

import pytest
from django.conf import settings

# Under pytest-xdist two test processes share the 2 cores: one torch/OpenMP thread each (and in
# the workers and trainers they start) instead of two each, which oversubscribes the cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("RANKLAB_TORCH_THREADS", "1")

CHROMIUM = "/usr/bin/chromium"
PROCESS_FIXTURES = {"subprocess_env", "celery_worker"}
# Over about 5 s each with neither a browser nor a process, or behind a module fixture that is
# (`pytest --durations` on the shared 2 cores; figures in docs/benchmarks.md): tiny-model
# training and generation runs, TRL trainers, whole-file imports, the fuzzing sweeps.
# One table instead of a decorator in each file; a name here that no longer exists stops the run,
# so a renamed test cannot slip back into `make test-fast` unnoticed.
HEAVY = {
    "annotate/tests/test_seed_demo.py::test_demo_starts_a_labeler_on_ranking_with_suggestions_for_demonstrations",
    "annotate/tests/test_services_assignments.py::test_gold_is_mixed_at_the_configured_rate_and_scored",
    "config/tests/test_bad_input_pages.py::test_no_form_field_or_query_parameter_of_any_page_answers_a_500",
    "config/tests/test_bench_client.py::test_a_server_down_for_a_while_and_dropping_connections_is_retried_until_it_answers",
    "config/tests/test_makefile.py::test_make_runs_settings_have_debug_off_unless_asked",
    "config/tests/test_production_settings.py::test_check_deploy_is_clean_but_for_the_justified_warnings",
    "config/tests/test_production_settings.py::test_https_is_enforced_by_default_and_a_tls_proxy_can_opt_out",
    "config/tests/test_schemathesis.py::test_generated_requests_get_no_server_error_and_match_the_schema",
    "exports/tests/test_examples.py::test_one_click_on_the_import_page_imports_the_hh_rlhf_comparisons",
    "exports/tests/test_import_limits.py::test_a_file_that_decompresses_beyond_the_cap_is_refused",
    "exports/tests/test_import_limits.py::test_progress_is_by_bytes_and_a_cancel_stops_a_file_of_blank_lines",
    "exports/tests/test_imports.py::test_hh_rlhf_round_trip",
    "exports/tests/test_imports.py::test_import_job_reports_progress_through_the_file",
    "exports/tests/test_imports.py::test_trl_standard_export_imports_back",
    "exports/tests/test_splits.py::test_no_prompt_in_two_splits",
    "exports/tests/test_trl_trainers.py::test_dpo_trainer_reads_preference",
    "exports/tests/test_trl_trainers.py::test_kto_trainer_reads_kto",
    "exports/tests/test_trl_trainers.py::test_reward_trainer_reads_preference_with_margin",
    "exports/tests/test_trl_trainers.py::test_sft_trainer_reads_demonstrations",
    "jobs/tests/test_migrations.py::test_rows_of_a_database_migrated_before_the_move_survive_it",
    "training/tests/test_evaluation.py::test_evaluate_a_policy_against_its_parent",
    "training/tests/test_generation.py::test_candidate_is_reproducible_alone_from_its_seed",
    "training/tests/test_generation.py::test_demonstration_tasks_get_the_first_candidate_as_suggestion",
    "training/tests/test_generation.py::test_job_makes_ranking_tasks_with_recorded_model_params_and_seed",
    "training/tests/test_generation.py::test_mixing_models_splits_k_between_them",
    "training/tests/test_generation.py::test_worker_keeps_one_copy_of_each_model_within_the_memory_bound",
    "training/tests/test_generation_progress.py::test_progress_advances_during_decoding_with_an_eta",
    "training/tests/test_ml_dpo.py::test_dpo_learns_the_labelers_preference_and_saves_a_policy",
    "training/tests/test_ml_dpo_cache.py::test_cache_frozen_trains_the_same_model_running_the_lower_layers_once",
    "training/tests/test_ml_dpo.py::test_lora_run_merges_its_adapter_and_resumes_from_checkpoints",
    "training/tests/test_ml_dpo.py::test_rpo_adds_the_nll_of_the_chosen_answer",
    "training/tests/test_ml_ppo.py::test_checkpoints_resume_and_refuse_another_snapshot",
    "training/tests/test_ml_ppo.py::test_cli_with_a_reward_model_directory_and_a_snapshot",
    "training/tests/test_ml_ppo.py::test_demo_nll_counts_answer_tokens_only",
    "training/tests/test_ml_ppo.py::test_forward_answer_matches_a_plain_forward",
    "training/tests/test_ml_ppo.py::test_ppo_raises_the_toy_reward_with_bounded_kl",
    "training/tests/test_ml_ppo.py::test_ptx_term_limits_the_alignment_tax",
    "training/tests/test_ml_reward.py::test_command_line_run_killed_mid_training_resumes_from_its_checkpoint",
    "training/tests/test_ml_reward.py::test_resume_refuses_a_checkpoint_from_another_snapshot",
    "training/tests/test_ml_reward.py::test_training_lowers_the_loss_changes_parameters_and_beats_chance",
    "training/tests/test_ml_rloo.py::test_rloo_trains_against_a_reward_model_and_saves_a_policy",
    "training/tests/test_ml_sft.py::test_sft_lowers_the_loss_and_saves_a_loadable_policy",
    "training/tests/test_ml_sft.py::test_sft_resumes_from_its_last_checkpoint_with_lora",
    "training/tests/test_openai.py::test_llama_cpp_server_answers_and_its_ignored_n_means_k_calls",
    "training/tests/test_openai.py::test_llama_cpp_server_streams_a_playground_answer",
    "training/tests/test_openai.py::test_timeout_fails_the_job_clearly_and_keeps_what_was_done",
    "training/tests/test_playground.py::test_streamed_suggestion_shows_partial_text_while_it_runs",
    "training/tests/test_playground.py::test_suggest_job_as_the_workspace_queues_it",
    "training/tests/test_playground.py::test_suggest_with_a_seed_is_reproducible",
    "training/tests/test_rounds.py::test_failed_step_stops_the_round_and_retry_resumes_from_it",
    "training/tests/test_rounds_held.py::test_continue_anyway_trains_the_policy",
    "training/tests/test_training_jobs.py::test_a_trainer_that_refuses_its_data_fails_the_job_with_the_reason",
    "training/tests/test_training_jobs.py::test_the_launcher_setting_starts_the_trainer",
    "training/tests/test_training_policy.py::test_rloo_and_ppo_ptx_jobs_register_policies",
    # Its trainer subprocess imports TRL; the reward job's progress test keeps a trainer's progress in test-fast.
    "training/tests/test_training_progress.py::test_a_dpo_job_on_a_tiny_model_reports_each_sub_step",
}
# `make run`'s start-up test starts the whole stack (web, worker, beat) itself.
PROCESS = {"annotate/tests/test_smoke.py::test_make_run_startup_headless"}


def _check_listed(root: Path) -> None:
    for nodeid in HEAVY | PROCESS:
        path, name = nodeid.split("::")
        file = root / path
        if not file.exists() or f"def {name}(" not in file.read_text():
            raise pytest.UsageError(f"conftest.py lists {nodeid}, which no longer exists: update HEAVY/PROCESS")


def pytest_collection_modifyitems(config, items):
    skip_slow = pytest.mark.skip(reason="slow model test: set RANKLAB_SLOW=1")
    no_chromium = pytest.mark.skip(reason=f"browser test: Debian's Chromium is not installed at {CHROMIUM} "
                                          "(apt-get install chromium)")
    pg = settings.IS_POSTGRES
    _check_listed(Path(str(config.rootpath)))
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        listed = item.nodeid.split("[")[0]
        if listed in HEAVY:
            item.add_marker(pytest.mark.heavy)
        if listed in PROCESS and "process" not in item.keywords:
            item.add_marker(pytest.mark.process)
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


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    """accelerate keeps one AcceleratorState per process: without a reset, the first test that
    builds a TRL trainer fixes the mixed precision of every later test's Accelerator, which then
    refuses its own ("AcceleratorState has already been initialized")."""
    yield
    if "accelerate.state" in sys.modules:
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()


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

    cache = Path(settings.TEST_CACHE_DIR) / "smollm2-tokenizer"
    if not (cache / "tokenizer_config.json").exists():
        # Each xdist worker writes its own copy and renames it into place; a worker that loses
        # the race drops its copy and reads the winner's.
        tmp = cache.with_name(f"{cache.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        load_tokenizer().save_pretrained(tmp)
        try:
            tmp.rename(cache)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
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
             "--without-gossip", "--without-mingle", "--loglevel", "INFO", "-n",
             f"test{len(started)}{os.environ.get('PYTEST_XDIST_WORKER', '')}@%h"],
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
