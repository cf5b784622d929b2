# The clinic: `make run` starts it embedded, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint format clean bench

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.run-installed: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.run-installed

# Embedded: SQLite, a Celery worker with beat on kombu's file-system broker,
# email written to var/mail/. honcho runs web, worker and beat from
# Procfile.dev; Ctrl-C stops all three.
run: $(VENV)/.run-installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo
	@echo; echo "  Starting the clinic at http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	@echo "  Log in with a demo login above; emails are written to var/mail/."; echo
	HOST=$(HOST) PORT=$(PORT) SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)} PATH="$(CURDIR)/$(BIN):$$PATH" \
		$(BIN)/honcho start -f Procfile.dev

test: $(VENV)/.dev-installed
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Figures, not a pass or a fail. A seeded clinic per scale of BENCH_SCALES
# (databases clinic_bench_0_1, ... on DATABASE_URL's server, reused when
# already seeded), served by gunicorn and measured with wrk (bench/run.py);
# then the patient search on 50,000 patients (bench/patient_search.py).
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/clinic_bench
bench: $(VENV)/.dev-installed
	@command -v wrk >/dev/null || { echo "Installing wrk"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	DATABASE_URL=$${DATABASE_URL:-$(BENCH_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/6} \
		$(BIN)/python -m bench.run
	DATABASE_URL=$${DATABASE_URL:-$(BENCH_DATABASE_URL)} $(BIN)/python -m bench.patient_search

clean:
	rm -rf var staticfiles .pytest_cache
