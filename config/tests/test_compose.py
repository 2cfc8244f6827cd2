"""docker-compose.yml is valid (Debian's docker-compose validates it; no engine runs here) and
every service's command names something that exists in this project."""
import importlib
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from config.celery_app import QUEUES

ROOT = Path(settings.BASE_DIR)
# What an operator must provide (compose refuses to start without them).
REQUIRED = {"DJANGO_SECRET_KEY": "a-long-random-test-secret", "FLOWER_BASIC_AUTH": "ops:test-password"}


def _exe() -> str:
    exe = shutil.which("docker-compose")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not installed; .ci/run installs Debian's docker-compose")
        pytest.skip("docker-compose not installed (apt-get install docker-compose)")
    return exe


def _config(*args, env_extra=None, exclude=()):
    env = {k: v for k, v in os.environ.items() if k not in REQUIRED and k not in exclude}
    env.update(env_extra or {})
    return subprocess.run([_exe(), "-f", str(ROOT / "docker-compose.yml"), "config", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def compose():
    check = _config("-q", env_extra=REQUIRED)
    assert check.returncode == 0, check.stderr
    rendered = _config(env_extra=REQUIRED)
    assert rendered.returncode == 0, rendered.stderr
    return yaml.safe_load(rendered.stdout)


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_compose_refuses_to_start_without_a_secret(missing):
    result = _config("-q", env_extra={k: v for k, v in REQUIRED.items() if k != missing})
    assert result.returncode != 0 and missing in result.stderr


def test_flower_asks_for_a_password_and_listens_on_loopback_only(compose):
    flower = compose["services"]["flower"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"] == REQUIRED["FLOWER_BASIC_AUTH"]
    published = [str(p) for p in flower.get("ports", [])]
    assert published and all(p.startswith("127.0.0.1:") for p in published), published


def test_the_stack_runs_with_https_enforced_by_default(compose):
    env = compose["services"]["web"]["environment"]
    assert env["DJANGO_SECRET_KEY"] == REQUIRED["DJANGO_SECRET_KEY"]
    assert env["DJANGO_SECURE_SSL_REDIRECT"] == "true" and env["DJANGO_SECURE_COOKIES"] == "true"
    assert int(env["DJANGO_HSTS_SECONDS"]) > 0


def test_services_present(compose):
    assert {"web", "worker", "training-worker", "beat", "postgres", "redis", "flower"} <= set(compose["services"])


def _commands(compose):
    for name, service in compose["services"].items():
        command = service.get("command")
        if command and service.get("image") == "ranklab:latest":
            if isinstance(command, str):
                command = shlex.split(command)
            if command[:2] == ["sh", "-c"]:
                for part in command[2].split("&&"):
                    yield name, shlex.split(part)
            else:
                yield name, command


def test_each_command_exists_in_the_project(compose):
    consumed = set()
    seen = 0
    for name, argv in _commands(compose):
        seen += 1
        if argv[0] == "python":
            assert (ROOT / argv[1]).exists(), f"{name}: {argv[1]} missing"
            if argv[1] == "manage.py":
                from django.core.management import get_commands

                assert argv[2] in get_commands(), f"{name}: no management command {argv[2]}"
        elif argv[0] == "gunicorn":
            module, attr = argv[1].split(":")
            assert hasattr(importlib.import_module(module), attr), f"{name}: {argv[1]} not importable"
        elif argv[0] == "celery":
            assert argv[1:3] == ["-A", "config"] and hasattr(importlib.import_module("config"), "celery_app")
            assert argv[3] in ("worker", "beat", "flower"), f"{name}: unknown celery command {argv[3]}"
            if argv[3] == "worker":
                queues = argv[argv.index("-Q") + 1].split(",")
                assert set(queues) <= set(QUEUES), f"{name}: unknown queue in {queues}"
                consumed |= set(queues)
        else:
            pytest.fail(f"{name}: unexpected command {argv}")
        assert shutil.which(argv[0]) or (ROOT / ".venv" / "bin" / argv[0]).exists() or argv[0] == "python"
    assert seen >= 5
    assert consumed == set(QUEUES), f"queues nobody consumes: {set(QUEUES) - consumed}"
    training = [argv for name, argv in _commands(compose) if name == "training-worker"][0]
    assert training[training.index("--concurrency") + 1] == "1"
