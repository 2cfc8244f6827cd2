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
