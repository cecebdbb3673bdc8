# Everyday commands. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OPENAPI_CLIENT_VENV := .venv-openapi-client
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install openapi-client run migrate test test-sqlite test-browser screenshots lint format docs bench bench-sql clean

$(BIN)/activate: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(BIN)/activate

install: $(BIN)/activate

# openapi-python-client in a venv of its own, for tests/api/test_generated_client.py: it pins typer<0.28,
# the service a newer one. Exactly the pinned set (--no-deps), checked whole by `pip check`.
$(OPENAPI_CLIENT_VENV)/bin/openapi-python-client: requirements-openapi-client.txt
	rm -rf $(OPENAPI_CLIENT_VENV)
	$(PYTHON) -m venv $(OPENAPI_CLIENT_VENV)
	$(OPENAPI_CLIENT_VENV)/bin/pip install --quiet --upgrade pip
	$(OPENAPI_CLIENT_VENV)/bin/pip install --quiet --no-deps -r requirements-openapi-client.txt
	$(OPENAPI_CLIENT_VENV)/bin/pip check
	touch $@

openapi-client: $(OPENAPI_CLIENT_VENV)/bin/openapi-python-client

migrate: install
	$(BIN)/alembic upgrade head

run: migrate
	$(BIN)/uvicorn app.main:app --host $(HOST) --port $(PORT) --no-access-log --http app.core.http.server:Protocol

lint: install
	$(BIN)/ruff check app tests bench alembic
	$(BIN)/ruff format --check app tests bench alembic
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix app tests bench alembic
	$(BIN)/ruff format app tests bench alembic

# docs/settings.md and .env.example, from the Settings class (a test fails when they are stale).
docs: install
	$(BIN)/python -m app.reference_docs

# The whole suite, on SQLite and PostgreSQL (TEST_DATABASE_URL, default the local `test` database,
# created when missing; the suite empties it on every run and refuses one holding other tables).
test: lint openapi-client
	$(BIN)/pytest tests/ -v --durations=25

# Without PostgreSQL or Redis at hand: SQLite only, and no integration tests (they need both), nor the
# generated client's test (its tool venv is built from the network).
test-sqlite: install
	TEST_DATABASES=sqlite $(BIN)/pytest tests/ -v -m "not integration and not generated_client"

# The admin console in Debian's Chromium (`apt-get install chromium`), driven by Playwright: tests/browser/.
# They also run in `make test`. `make screenshots` refreshes docs/screenshots/ (shown in the README).
# They serve the console from SQLite, so these two need neither PostgreSQL nor Redis.
test-browser: install
	TEST_DATABASES=sqlite $(BIN)/pytest tests/browser -v -m browser

screenshots: install
	TEST_DATABASES=sqlite UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/browser -v -m browser

# The benchmark of issue 10 (bench/README.md): wrk and pgbench (Debian packages) against PostgreSQL at
# BENCH_DATABASE_URL (default the local server), about 10 minutes. A quick run while tuning:
#   make bench BENCH_ARGS="--scenarios apply,hot --clients 32"
BENCH_ARGS ?=
$(VENV)/.bench-installed: requirements-bench.txt $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $@

bench: install $(VENV)/.bench-installed
	$(BIN)/python -m bench $(BENCH_ARGS)

# Rewrite bench/sql/*.sql from what the service sends now (after a change to the hot path's SQL).
bench-sql: install $(VENV)/.bench-installed
	$(BIN)/python -m bench.sql --write

# Everything the tools leave behind, and the development database (./data). Committed files stay.
clean:
	rm -rf $(VENV) $(OPENAPI_CLIENT_VENV) data .pytest_cache .mypy_cache .ruff_cache .hypothesis .schemathesis .coverage htmlcov
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
