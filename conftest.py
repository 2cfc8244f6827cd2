"""Fixtures shared by every app's tests. Data is built through services, not raw ORM."""
import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings


def pytest_collection_modifyitems(config, items):
    skip_slow = pytest.mark.skip(reason="slow model test: set RANKLAB_SLOW=1")
    pg = settings.IS_POSTGRES
    for item in items:
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
