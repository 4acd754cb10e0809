# The two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
FLASK   = $(VENV)/bin/flask --app wsgi
HOST   ?= 127.0.0.1
PORT   ?= 5000
STAMP   = $(VENV)/.installed
# The services leg: a throwaway database per test is created next to this one, and the
# Redis DB index below is flushed at the start of every run.
TEST_PG_URL    ?= postgresql://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/13
SERVICES = TEST_DATABASE_URL=$(TEST_PG_URL) TEST_RATELIMIT_STORAGE_URI=$(TEST_REDIS_URL)

.PHONY: run test test-services serve worker bench bench-team profile lint install chromium clean screenshots messages

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(FLASK) init-db
	DEV_OUTBOX=1 $(FLASK) seed-demo
	DEV_OUTBOX=1 $(FLASK) run --host $(HOST) --port $(PORT)

# Debian's chromium for the browser tests (never a downloaded browser build).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || { echo "chromium is missing and could not be installed (need root and apt)"; exit 1; }; }

test: $(STAMP) chromium
	$(PY) -m pytest -n 3 --dist worksteal -q -m "not services"

# The whole suite again on PostgreSQL + Redis, then the multi-process tests (gunicorn -w 4).
# PostgreSQL or Redis missing is a failure here, never a skip.
test-services: $(STAMP) chromium
	$(SERVICES) $(PY) -c 'import os, psycopg2, redis; \
	  psycopg2.connect(os.environ["TEST_DATABASE_URL"]).close(); \
	  redis.from_url(os.environ["TEST_RATELIMIT_STORAGE_URI"]).flushdb(); \
	  print("PostgreSQL and Redis answer; Redis test DB flushed")'
	$(SERVICES) $(PY) -m pytest -n 3 --dist worksteal -q -m "not services and not presentation"
	$(SERVICES) $(PY) -m pytest -p no:xdist -q -m services tests/services

# Production-style server: gunicorn.conf.py (WEB_CONCURRENCY, HOST, PORT; see README "Deploying").
# `describe` prints the mode, database, limiter storage and mail/SMS backends before it starts.
serve: $(STAMP)
	$(FLASK) init-db
	$(FLASK) describe
	$(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

# The notice worker (README "Deploying"): retries security notices whose first send failed.
# Run one or more next to `make serve`; `make run` needs none (notices go out in the request).
worker: $(STAMP)
	$(FLASK) deliver --loop

# Load figures as ratios to a bare Flask app under the same gunicorn settings (README table).
bench: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "Installing wrk (Debian package) for the benchmark"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null) \
	  || echo "wrk unavailable: bench/run.py falls back to its Python load driver"; }
	$(PY) bench/run.py

# Where a hot request's time goes, in process: CPU per request and a per-component breakdown
# (SQL text vs execution, gettext, Jinja, url_for, forms, session, hooks). Not in CI.
# PROFILE_ARGS=--postgres for PostgreSQL + Redis; --pstats for cProfile's top functions.
PROFILE_ARGS ?=
profile: $(STAMP)
	$(PY) bench/profile_endpoints.py $(PROFILE_ARGS)

# Team list and activity log growth: time per page as a ratio to the small case (not in CI).
bench-team: $(STAMP)
	$(PY) bench/team_activity.py

# README screenshots (desktop and 360 px phone) from the running app: docs/screenshots/*.png.
screenshots: $(STAMP) chromium
	$(PY) scripts/screenshots.py

# Translations (README "Translations"): every marked string into webapp/translations/messages.pot,
# then the catalogs of the locales already added are updated and compiled.
PYBABEL = $(VENV)/bin/pybabel
messages: $(STAMP)
	$(PYBABEL) extract -F babel.cfg -k _l -k N_ -k _t --sort-by-file --no-wrap \
	  --project "Aesthetix CRM account security" --copyright-holder "Aesthetix CRM" \
	  -o webapp/translations/messages.pot .
	@if ls webapp/translations/*/LC_MESSAGES/messages.po >/dev/null 2>&1; then \
	  $(PYBABEL) update --no-wrap -i webapp/translations/messages.pot -d webapp/translations && \
	  $(PYBABEL) compile -d webapp/translations; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check webapp tests
	$(VENV)/bin/bandit -q -r webapp
	$(VENV)/bin/mypy
	$(MAKE) --no-print-directory audit

# Known vulnerabilities in the installed dependencies, from PyPI's advisory data (the
# OSV service is not reachable from the build machines). A package whose advisories
# cannot be fetched is reported as skipped; AUDIT_FLAGS=--strict makes that an error.
AUDIT_FLAGS ?=
audit: $(STAMP)
	$(VENV)/bin/pip-audit -s pypi --progress-spinner off --skip-editable $(AUDIT_FLAGS)

# The security suite alone: attack matrix, fuzzing, faults (see SECURITY.md).
security: $(STAMP)
	$(PY) -m pytest tests/security -q -n 2

clean:
	rm -rf $(VENV) instance .pytest_cache
