# The one developer interface: `make help` lists the targets.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser tests drive Debian's Chromium through Playwright (never `playwright install`).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help demo test lint typecheck pytest postgres bench bench-http clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP) ## set everything up and run the demo: the seed apps, a worker and the dashboard
	$(BIN)/backburner demo

test: $(STAMP) $(CHROMIUM) lint typecheck pytest ## set everything up; run ruff, mypy and the whole test suite

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: $(STAMP) ## mypy --strict over the package
	$(BIN)/mypy

# The whole run's bound: a hang that outlives pytest-timeout (a teardown stuck after a test
# timed out) is interrupted, so pytest still prints what failed, instead of holding CI to its end.
PYTEST_BUDGET_S ?= 2400

pytest: $(STAMP) $(CHROMIUM) postgres ## the test suite (SQLite and PostgreSQL)
	timeout --signal=INT --kill-after=60 $(PYTEST_BUDGET_S) $(BIN)/pytest

postgres: ## start this machine's PostgreSQL if it is installed and down (the tests use it)
	@if [ -d /etc/postgresql ] && ! pg_isready -q -h 127.0.0.1 -p 5432; then \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start || true; fi

$(CHROMIUM):
	$(SUDO) apt-get update
	$(SUDO) apt-get install -y chromium

bench: $(STAMP) ## throughput and latency figures (see docs/benchmarks.md)
	$(BIN)/python bench/throughput.py

bench-http: $(STAMP) ## HTTP figures: a real server under load (see docs/benchmarks.md)
	$(BIN)/python bench/http_service.py

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
