# quantdesk — `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
ARGS   ?=

.DEFAULT_GOAL := help

.PHONY: help install install-test install-ml browser promtool run test lint typecheck unit e2e bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

# The last install, as a file: `make run` installs again only when one of these
# changed since (the dependencies, or the pinned dashboard assets).
STAMP        := $(VENV)/.quantdesk-installed
INSTALL_DEPS := pyproject.toml quantdesk/web/assets.py

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(INSTALL_DEPS) | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(BIN)/python -m quantdesk.web.assets
	touch $@

install: $(BIN)/python ## Install quantdesk into .venv (and the dashboard's chart library)
	$(BIN)/pip install --quiet -e .
	$(BIN)/python -m quantdesk.web.assets
	touch $(STAMP)

install-test: $(BIN)/python ## Install quantdesk and the test tools into .venv
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m quantdesk.web.assets
	touch $(STAMP)

install-ml: $(BIN)/python ## Install the ml extra: train the networks, tune, XGBoost, LightGBM
	$(BIN)/pip install --quiet -e '.[ml]'

browser: ## Install the OS's Chromium for the end-to-end tests (apt-get; skipped if present)
	scripts/install-chromium

promtool: ## Install promtool for the deployment checks (apt-get prometheus; skipped if present)
	scripts/install-promtool

run: $(STAMP) ## Install (only if pyproject.toml or the assets changed), then run the platform (ARGS="--port 8001")
	$(BIN)/quantdesk run $(ARGS)

lint: ## ruff lint + format check
	$(BIN)/ruff check quantdesk tests benchmarks
	$(BIN)/ruff format --check quantdesk tests benchmarks

typecheck: ## mypy
	$(BIN)/mypy quantdesk

unit: ## pytest only
	$(BIN)/pytest $(ARGS)

e2e: ## The dashboard's end-to-end tests only (screenshots in test-artifacts/screenshots)
	$(BIN)/pytest tests/e2e $(ARGS)

test: install-test browser promtool lint typecheck unit ## Install test tools, Chromium and promtool, lint, type-check and run every test

bench: install-test ## Run every benchmark and print figures with ratios
	$(BIN)/python -m benchmarks $(ARGS)

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
