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


def test_make_test_fast_leaves_out_browser_process_and_heavy_tests(tmp_path):
    """The edit loop: no Chromium, no started processes, nothing over about 5 s (conftest.HEAVY)."""
    import shlex

    [line] = [c for c in _dry("test-fast", tmp_path).splitlines() if " -m pytest " in c]
    expression = shlex.split(line)[shlex.split(line).index("-m", 3) + 1]
    assert {"not browser", "not process", "not heavy"} <= {part.strip() for part in expression.split(" and ")}


def test_the_heavy_marker_reaches_the_listed_tests(pytestconfig):
    """conftest.HEAVY marks by name, and stops the run when a name no longer exists."""
    import conftest

    assert "config/tests/test_schemathesis.py::test_generated_requests_get_no_server_error_and_match_the_schema" \
        in conftest.HEAVY
    conftest._check_listed(Path(str(pytestconfig.rootpath)))
    conftest.HEAVY.add("config/tests/test_makefile.py::test_that_does_not_exist")
    try:
        with pytest.raises(pytest.UsageError, match="no longer exists"):
            conftest._check_listed(Path(str(pytestconfig.rootpath)))
    finally:
        conftest.HEAVY.discard("config/tests/test_makefile.py::test_that_does_not_exist")
