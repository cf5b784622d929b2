# The clinic: `make run` starts it embedded, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint format worker clean

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
# email written to var/mail/. Ctrl-C stops every process started here.
run: $(VENV)/.run-installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo
	@trap 'kill 0' INT TERM EXIT; \
	$(BIN)/celery -A clinic worker --beat --schedule var/celerybeat-schedule --concurrency 2 --loglevel INFO & \
	$(PY) manage.py runserver --noreload $(HOST):$(PORT) & \
	sleep 3; \
	echo; echo "  The clinic is running at http://$(HOST):$(PORT)/  (Ctrl-C stops it)"; \
	echo "  Demo logins are printed above; emails are written to var/mail/."; echo; \
	wait

test: $(VENV)/.dev-installed
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf var staticfiles .pytest_cache
