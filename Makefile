# The two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
FLASK   = $(VENV)/bin/flask --app wsgi
HOST   ?= 127.0.0.1
PORT   ?= 5000
STAMP   = $(VENV)/.installed

.PHONY: run test test-services lint install chromium clean

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
	$(PY) -m pytest -n 2 -q

lint: $(STAMP)
	$(VENV)/bin/ruff check webapp tests

clean:
	rm -rf $(VENV) instance .pytest_cache
