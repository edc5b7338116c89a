# The README's two commands: `make serve` and `make test`. Both build the virtualenv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUNTIME := $(VENV)/.runtime
CLIENTS := tests/clients/node_modules/.package-lock.json
HOST   ?= 127.0.0.1
PORT   ?= 8000
# pytest-xdist workers for `make test` (tests/workers.py isolates them): one per core and
# one more, as about a quarter of the suite's time is spent waiting (on a gateway or Node
# process, a timeout under test), not computing; measured on 2 cores: 2 workers 285-305 s,
# 3 workers 247 s. With ANXIN_TEST_REDIS_URL, worker N uses that URL's db + N: keep
# db + workers <= 16.
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 1)')

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

# Bytecode caches on even where the environment turns them off (PYTHONDONTWRITEBYTECODE=1,
# as on the CI machine): otherwise every worker rewrites every test module's asserts and
# every gateway or `anxin` process a test starts compiles the service again (collection
# 21.7 -> 9.4 s a worker, measured). The caches are in __pycache__, which git ignores.
# Work stealing: an idle worker takes tests queued for the other, so a few long tests
# (Node and browser clients, upgrades) do not leave one core idle at the end.
test: $(STAMP)
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory $(CLIENTS); \
	else echo "node/npm not found: the client-library tests will be skipped"; fi
	@test -x "$${ANXIN_CHROMIUM:-/usr/bin/chromium}" || echo "chromium not found: the console's browser test will be skipped (apt-get install chromium)"
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

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
