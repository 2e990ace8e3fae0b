# Every target does its own set-up, idempotently: a fresh clone needs only `make run` or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODEL_DIR := .models/tiny-llama
HOST ?= 127.0.0.1
PORT ?= 8000
PIP_VERSION := 26.3

.PHONY: run test lint bench rehearse setup model generate debian-packages mermaid clean image-lock image-size

setup: $(STAMP)

# Re-installs whenever the pinned dependencies change.
# pip itself is pinned: the dependency test drives its resolver (--dry-run --report, fast-deps).
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check pip==$(PIP_VERSION)
	$(PY) -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $@

model: $(MODEL_DIR)/config.json

$(MODEL_DIR)/config.json: | $(STAMP)
	$(VENV)/bin/vllm-deploy make-tiny-model $(MODEL_DIR)

run: $(STAMP) model
	$(VENV)/bin/vllm-deploy serve --engine reference --model $(MODEL_DIR) \
		--served-model-name tiny-llama --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts
	$(VENV)/bin/mypy
	$(VENV)/bin/shellcheck scripts/*.sh .ci/run
	$(VENV)/bin/hadolint Dockerfile Dockerfile.vllm-base Dockerfile.cpu

# checkov has its own venv: its many pinned dependencies must not constrain ours.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): requirements-checkov.lock
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --disable-pip-version-check -c requirements-checkov.lock checkov
	touch $@

# promtool and prometheus (Debian's `prometheus`) for the rule tests and the live evaluation;
# nginx and ip (iproute2) for the local cluster's Services and pod network namespaces.
debian-packages:
	scripts/ensure-debian-packages.sh promtool:prometheus prometheus:prometheus nginx:nginx ip:iproute2

# mermaid-cli (pinned in tools/mermaid/package-lock.json) with Debian's chromium, not
# puppeteer's download: the docs test renders every Mermaid diagram with it.
MERMAID_DIR := tools/mermaid
MERMAID_STAMP := $(MERMAID_DIR)/node_modules/.installed

$(MERMAID_STAMP): $(MERMAID_DIR)/package-lock.json
	scripts/ensure-debian-packages.sh node:nodejs npm:npm chromium:chromium
	PUPPETEER_SKIP_DOWNLOAD=1 npm ci --prefix $(MERMAID_DIR) --no-audit --no-fund --loglevel=error
	touch $@

mermaid: $(MERMAID_STAMP)

test: $(STAMP) $(CHECKOV_STAMP) $(MERMAID_STAMP) debian-packages lint
	CHECKOV=$(CHECKOV_VENV)/bin/checkov MMDC=$(MERMAID_DIR)/node_modules/.bin/mmdc $(VENV)/bin/pytest -q

# Rewrites the committed rules, dashboards and example manifests from the code and specs.
generate: $(STAMP)
	$(PY) -m vllm_deploy.observability.generate deploy/observability
	$(PY) scripts/render_parity_table.py
	$(PY) scripts/render_cold_start_table.py
	for spec in examples/*.yaml; do \
		out=deploy/examples/$$(basename $$spec .yaml); rm -rf $$out; \
		$(VENV)/bin/vllm-deploy render -f $$spec -o $$out --validate >/dev/null || exit 1; \
	done

# Re-resolves requirements-image.lock (the GPU image's venv) from pyproject.toml; needs PyPI.
image-lock: $(STAMP)
	$(PY) scripts/image_lock.py

# Installs requirements-image.lock into a temporary directory, as the GPU image's builder does,
# and reports the installed size per package, the trim and the total against the 5 GB budget
# (docs/image.md). Needs PyPI, ~20 GB of disk and a few minutes; not part of `make test`.
IMAGE_BASE_MB ?= 0
image-size: $(STAMP)
	$(PY) scripts/image_size.py --gzip --base-mb $(IMAGE_BASE_MB)

bench: $(STAMP) model
	$(PY) benchmarks/bench_engines.py
	$(PY) benchmarks/bench_middleware.py
	$(PY) benchmarks/bench_middleware_inprocess.py
	$(PY) benchmarks/bench_middleware_inprocess.py --no-access-log
	$(PY) benchmarks/bench_sim.py
	$(PY) benchmarks/validate_sim.py
	@# The simulator against the local cluster: root (pod network namespaces), nginx, prometheus.
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) debian-packages && $(PY) benchmarks/validate_sim_cluster.py; \
	else echo "benchmarks/validate_sim_cluster.py skipped: the local cluster needs root"; fi

# The full-size rehearsals on the local cluster (root): numbers for docs/rehearsals.md.
rehearse: $(STAMP) debian-packages
	$(PY) benchmarks/rehearsals.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(MERMAID_DIR)/node_modules .models .pytest_cache .mypy_cache .ruff_cache
