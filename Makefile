# elizabus: `make run` starts the whole stack; `make test` runs the tests. Both set up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench bench-appends bench-all chaos chaos-quick schemas mutants clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,embeddings]'
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

mutants: setup  ## break each guarantee on purpose and show a test failing (scripts/mutants.py)
	$(BIN)/python scripts/mutants.py

bench: setup  ## sequential (200 messages, 4 rooms, instant model), then 20 rooms in flight at 300 ms per text-model call, then memory search at 5,000
	$(BIN)/python -m tests.benchmarks.pipeline
	LATENCY_MS=300 CONCURRENCY=20 ROOMS=20 ENTITIES=20 MESSAGES=100 $(BIN)/python -m tests.benchmarks.pipeline
	$(BIN)/elizabus bench memory --memories 5000 --json

bench-appends: setup  ## appends/s of run-sized batches from 1 and 64 writers, and the append lock's share
	$(BIN)/python -m tests.benchmarks.appends

bench-all: setup  ## ElizaOS's harness (ELIZAOS_BENCH_DIR) beside 1, 2 and 3 orchestrators, then bench-appends
	test -n "$(ELIZAOS_BENCH_DIR)" || { echo "set ELIZAOS_BENCH_DIR to a copy of elizaos-bench with npm install done"; exit 2; }
	$(BIN)/python -m tests.benchmarks.side_by_side
	$(BIN)/python -m tests.benchmarks.appends

chaos: setup  ## every chaos scenario under load, a table of sent/answered/duplicated/lost/DLQ/recovery (docs/chaos.md)
	$(BIN)/python -m tests.chaos --all

chaos-quick: setup  ## the chaos scenarios CI runs (kill -9 of an orchestrator, hostile bodies, malformed LLM output)
	$(BIN)/python -m tests.chaos --quick

schemas: setup  ## re-export JSON Schemas of bus messages and events to schemas/json
	$(BIN)/elizabus schemas export

clean:
	rm -rf $(VENV) .elizabus .pytest_cache .mypy_cache .ruff_cache
