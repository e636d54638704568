# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export FAIRWITNESS_INSTANCE_DIR ?= instance

.PHONY: run test check lint bench models clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/fairwitness init --demo-key
	$(BIN)/fairwitness serve --bind 127.0.0.1:8080

# Static types: every package and the tests, as pyproject.toml's [tool.mypy] lists them
# (the log, policies, classifiers and domain held to strict, the rest to its baseline).
.PHONY: types
types: $(VENV)/.installed-dev
	$(BIN)/mypy

test: $(VENV)/.installed-dev types
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest

# The quick loop while working, under a minute on two idle cores: lint, format, types,
# import contracts, and the tests that need no PostgreSQL, no server, no browser and no
# subprocess, in two workers. `make test` stays the whole suite.
CHECK_TESTS := not postgres and not slow and not e2e and not subprocess
check: $(VENV)/.installed-dev types
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest -m "$(CHECK_TESTS)" -x -q -n 2 --ignore=tests/e2e

lint: $(VENV)/.installed-dev types
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Everything by default. One part or a few: `make bench BENCH=pg` or BENCH="pg soak"
# (parts: sqlite pg soak costs receipts log classifier); options through BENCH_ARGS, e.g.
# `make bench BENCH=soak BENCH_ARGS="--soak-seconds 60"`.
bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/run.py $(if $(BENCH),--only "$(BENCH)") $(BENCH_ARGS)

# Rebuilds the committed models from ../shared/data/train: text-linear, then the
# text-encoder over it: its fine-tuned upper layers and heads (each model card states how
# closely a rebuild matches). Pooled token sums are cached in .cache/text-encoder.
models: $(VENV)/.installed-dev
	$(BIN)/pip install --quiet -e '.[dev,train]'
	$(BIN)/fairwitness classifiers train --data ../shared/data/train --out classifiers/models/text-linear
	$(BIN)/fairwitness classifiers train-encoder --data ../shared/data/train --out classifiers/models/text-encoder

clean:
	rm -rf $(VENV) build *.egg-info
