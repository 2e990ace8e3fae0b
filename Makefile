# Every target does its own set-up, idempotently: a fresh clone needs only `make run` or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODEL_DIR := .models/tiny-llama
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench setup model generate debian-packages clean

setup: $(STAMP)

# Re-installs whenever the pinned dependencies change.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $@

model: $(MODEL_DIR)/config.json

$(MODEL_DIR)/config.json: | $(STAMP)
	$(VENV)/bin/vllm-deploy make-tiny-model $(MODEL_DIR)

run: $(STAMP) model
	$(VENV)/bin/vllm-deploy serve --engine reference --model $(MODEL_DIR) \
		--served-model-name tiny-llama --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/shellcheck scripts/*.sh .ci/run

# promtool and prometheus (Debian's `prometheus`) for the rule tests and the live evaluation.
debian-packages:
	scripts/ensure-debian-packages.sh promtool:prometheus prometheus:prometheus

test: $(STAMP) debian-packages lint
	$(VENV)/bin/pytest -q

# Rewrites the committed rules and dashboards from src/vllm_deploy/observability.
generate: $(STAMP)
	$(PY) -m vllm_deploy.observability.generate deploy/observability

bench: $(STAMP) model
	$(PY) benchmarks/bench_engines.py
	$(PY) benchmarks/bench_middleware.py

clean:
	rm -rf $(VENV) .models .pytest_cache .mypy_cache .ruff_cache
