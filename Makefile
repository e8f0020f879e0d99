# Two commands do all the set-up on a fresh machine with Python 3.11+:
#   make run    serve promptkit on the embedded SQLite default, with the offline echo provider
#   make test   run the test suite (set DATABASE_URL=postgresql://... to run it on PostgreSQL)
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin

EXAMPLES = examples/promptkit-echo examples/promptkit-anthropic examples/promptkit-tools examples/promptkit-mcp
$(BIN)/.installed: pyproject.toml $(addsuffix /pyproject.toml,$(EXAMPLES))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]' $(addprefix -e ,$(EXAMPLES))
	touch $@

.PHONY: install run test lint fuzz
install: $(BIN)/.installed

run: install
	$(BIN)/promptkit serve

# The Node test of POST /chat drives the real Vercel AI SDK, pinned in tests/node.
NODE_TEST_DEPS = tests/node/node_modules/.package-lock.json
$(NODE_TEST_DEPS): tests/node/package-lock.json
	npm ci --prefix tests/node --no-audit --no-fund --loglevel=error

test: install $(NODE_TEST_DEPS)
	$(BIN)/python -m pytest

# The long fuzz run (tests/test_fuzz.py): thousands of new random cases per generator.
FUZZ_CASES ?= 5000
fuzz: install
	FUZZ_CASES=$(FUZZ_CASES) FUZZ_RANDOM=1 $(BIN)/python -m pytest tests/test_fuzz.py -s -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
