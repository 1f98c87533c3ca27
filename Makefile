# The two set-up commands of the README: `make run` and `make test`. Both create .venv and install into it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run quick test test-slow lint bench clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## install, then run every study (profile full) and build notebook, report, bundle
	$(BIN)/mnistlab run $(ARGS)

quick: $(STAMP)
	$(BIN)/mnistlab run --profile quick $(ARGS)

test: $(STAMP)  ## install, then lint and run the default (fast) test suite
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

bench: $(STAMP)  # the peer suite (mnistlab bench); NAME=drift etc. runs another (python -m benchmarks --list)
	$(BIN)/python -m benchmarks $(or $(NAME),peers) $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
