# The README's two commands: `make serve` and `make test`. Both build the virtualenv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUNTIME := $(VENV)/.runtime
CLIENTS := tests/clients/node_modules/.package-lock.json
HOST   ?= 127.0.0.1
PORT   ?= 8000
# pytest-xdist workers for `make test` (tests/workers.py isolates them); `auto` = one per
# core. With ANXIN_TEST_REDIS_URL, worker N uses that URL's db + N: keep db + workers <= 16.
TEST_WORKERS ?= auto

.PHONY: serve test lint audit schema bench clean

# `make serve` installs the runtime lock only; the test and lint tools (the test-only
# Alipay SDK is most of their size) come with the first `make test` or `make lint`.
$(RUNTIME): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(RUNTIME)

$(STAMP): $(RUNTIME) requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	touch $(STAMP)

serve: $(RUNTIME)
	$(BIN)/anxin migrate
	$(BIN)/anxin demo --if-empty
	$(BIN)/anxin serve --host $(HOST) --port $(PORT)

# The real client libraries (graphql-ws, graphql-http, Apollo, urql, codegen) that tests/api runs under Node,
# pinned by tests/clients/package-lock.json; skipped where Node is not installed.
$(CLIENTS): tests/clients/package-lock.json
	npm ci --prefix tests/clients --no-audit --no-fund --loglevel=error

test: $(STAMP)
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory $(CLIENTS); \
	else echo "node/npm not found: the client-library tests will be skipped"; fi
	@test -x "$${ANXIN_CHROMIUM:-/usr/bin/chromium}" || echo "chromium not found: the console's browser test will be skipped (apt-get install chromium)"
	$(BIN)/pytest -n $(TEST_WORKERS)

lint: $(STAMP) audit
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

audit: $(STAMP)
	$(BIN)/python .ci/audit.py

schema: $(STAMP)
	$(BIN)/anxin export-schema > schema.graphql

# Every bench, one after another; `make bench SHORT=1` at small sizes (a few minutes).
bench: $(STAMP)
	$(BIN)/python bench/run_all.py $(if $(SHORT),--short,)

clean:
	rm -rf $(VENV) data
