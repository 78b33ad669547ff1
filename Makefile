# quantdesk — `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
ARGS   ?=

.DEFAULT_GOAL := help

.PHONY: help install install-test run test lint typecheck unit bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python ## Install quantdesk into .venv
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python ## Install quantdesk and the test tools into .venv
	$(BIN)/pip install --quiet -e '.[test]'

run: install ## Install, then run the whole platform on its embedded defaults (ARGS="--port 8001")
	$(BIN)/quantdesk run $(ARGS)

lint: ## ruff lint + format check
	$(BIN)/ruff check quantdesk tests benchmarks
	$(BIN)/ruff format --check quantdesk tests benchmarks

typecheck: ## mypy
	$(BIN)/mypy quantdesk

unit: ## pytest only
	$(BIN)/pytest $(ARGS)

test: install-test lint typecheck unit ## Install test tools, lint, type-check and run every test

bench: install-test ## Run every benchmark and print figures with ratios
	$(BIN)/python -m benchmarks $(ARGS)

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
