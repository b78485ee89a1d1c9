# elizabus: `make run` starts the whole stack; `make test` runs the tests. Both set up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench chaos chaos-quick schemas clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: setup  ## the whole stack on embedded NATS + Postgres (Ctrl-C stops it)
	$(BIN)/elizabus up

test: setup  ## unit and integration tests (they start their own servers)
	$(BIN)/pytest

lint: setup  ## ruff, mypy --strict on shared/, services/ and plugins/, and the layering check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: setup  ## messages/s and latency, 200 messages over 4 rooms and 8 users, scripted model
	$(BIN)/python -m tests.benchmarks.pipeline

chaos: setup  ## every chaos scenario under load, a table of sent/answered/duplicated/lost/DLQ/recovery (docs/chaos.md)
	$(BIN)/python -m tests.chaos --all

chaos-quick: setup  ## the chaos scenarios CI runs (kill -9 of an orchestrator, hostile bodies, malformed LLM output)
	$(BIN)/python -m tests.chaos --quick

schemas: setup  ## re-export JSON Schemas of bus messages and events to schemas/json
	$(BIN)/elizabus schemas export

clean:
	rm -rf $(VENV) .elizabus .pytest_cache .mypy_cache .ruff_cache
