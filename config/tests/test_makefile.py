"""`make run` installs only what running needs and serves with DEBUG off; `make test` adds the
dev extras (with the llama.cpp build flags); `make dev` is the opt-in for DEBUG on. Checked with
`make -n` (print the commands, run none) against a virtualenv path that does not exist."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _dry(target: str, tmp_path) -> str:
    return subprocess.run(["make", "-n", target, f"VENV={tmp_path / 'venv'}"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout


def test_make_run_installs_the_runtime_only(tmp_path):
    commands = _dry("run", tmp_path)
    assert "pip install -q -e .\n" in commands and "manage.py runstack" in commands
    assert "[dev" not in commands and "CMAKE_ARGS" not in commands and "llama" not in commands.lower()
    assert "DJANGO_DEBUG=1" not in commands


def test_make_test_adds_the_dev_extras_with_the_llama_build_flags(tmp_path):
    commands = _dry("test", tmp_path)
    assert 'CMAKE_ARGS="-DGGML_NATIVE=OFF' in commands and '-e ".[dev]"' in commands
    assert "pytest" in commands


def test_make_dev_is_the_opt_in_for_debug(tmp_path):
    assert "DJANGO_DEBUG=1" in _dry("dev", tmp_path)


def test_make_runs_settings_have_debug_off_unless_asked():
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_DEBUG"}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"
    env["DJANGO_DEBUG"] = "1"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "True"
