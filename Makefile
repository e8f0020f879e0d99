# Two commands do all the set-up on a fresh machine with Python 3.11+:
#   make run    serve promptkit on the embedded SQLite default, with the offline echo provider
#   make test   run the test suite (set DATABASE_URL=postgresql://... to run it on PostgreSQL)
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin

$(BIN)/.installed: pyproject.toml examples/promptkit-echo/pyproject.toml examples/promptkit-anthropic/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]' -e examples/promptkit-echo -e examples/promptkit-anthropic
	touch $@

.PHONY: install run test lint
install: $(BIN)/.installed

run: install
	$(BIN)/promptkit serve

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
