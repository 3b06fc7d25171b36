# Switchboard: `make dev` runs the platform on this machine, `make test` runs every check CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv from PyPI when it is not installed yet. The interpreter is pinned by its absolute path now, because inside
# `uv run` a bare `python3` is the project's virtualenv, which has no uv.
PYTHON := $(shell python3 -c 'import sys; print(sys.executable)')
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
# Only the interpreter on this machine: uv must never try to download one.
export UV_PYTHON_DOWNLOADS := never
SOURCES := $(wildcard libs/*/src services/*/src)
BENCHES := $(wildcard libs/*/bench/bench_*.py services/*/bench/bench_*.py)

.PHONY: help uv sync dev test lint typecheck pytest bench members fuzz

help:
	@echo "make dev    run NATS, every service and the provider emulators (no credentials needed)"
	@echo "            make dev PROMETHEUS=1: and a real Prometheus scraping them, with the alert rules loaded"
	@echo "make test   lint, type-check and run the whole test suite"
	@echo "make bench  print the performance figures"
	@echo "make fuzz   a long schemathesis and signed-webhook run against call-control (FUZZ_CASES=500 per operation)"

uv:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv

sync: uv
	@$(UV) sync --all-packages --locked --quiet

lint: sync
	$(UV) run ruff check .
	$(UV) run ruff format --check .

typecheck: sync
	$(UV) run mypy $(SOURCES)

pytest: sync
	$(UV) run pytest -q -rs libs services tests

members: sync
	$(UV) run python -m switchboard.devkit.member_imports --uv "$(UV)"

test: lint typecheck members pytest

bench: sync
	@failed=""; for bench in $(BENCHES); do echo; echo "== $$bench"; $(UV) run python $$bench || failed="$$failed $$bench"; done; \
	if [ -n "$$failed" ]; then echo; echo "benchmarks that missed a target or failed:$$failed"; exit 1; fi

# The same property tests as in `make test`, with more cases: prints cases run, 5xx count and crashes.
FUZZ_CASES ?= 500
fuzz: sync
	SWITCHBOARD_FUZZ_CASES=$(FUZZ_CASES) $(UV) run pytest -q -s services/call-control/tests/test_fuzz.py

dev: sync
	$(UV) run switchboard-dev $(if $(PROMETHEUS),--prometheus)
