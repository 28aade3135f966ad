# simtransfer: `make figures` and `make test` work on a fresh machine with Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help venv lint test test-slow test-all run bench figures clean

help:
	@echo "make lint      - ruff check (the rules in pyproject.toml)"
	@echo "make test      - create .venv if needed, lint, and run the test suite (fast, < 10 min on 2 cores)"
	@echo "make test-slow - the long statistical checks (marked slow)"
	@echo "make run       - run the default experiment (32 seeds) and print its summary"
	@echo "make bench     - benchmark the default trial, print JSON"
	@echo "make figures   - regenerate every figure under figures/"

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "need python3.11 (or set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

test-all: $(STAMP)
	$(PY) -m pytest -q -m ''

run: $(STAMP)
	$(PY) -m simtransfer run --seeds 32

bench: $(STAMP)
	$(PY) -m simtransfer bench

figures: $(STAMP)
	$(PY) -m figures

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
