# FamilyLink: `make run` to use it, `make test` to prove it. Both work on a fresh clone.
PYTHON ?= python3.11
PORT ?= 8000
VENV := .venv
PY := $(VENV)/bin/python
export PORT

.PHONY: run test test-faults install lint typecheck bench bench-smoke clean-venv

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

run: install
	$(PY) manage.py ensure_database
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo ""
	@echo "FamilyLink is starting at http://127.0.0.1:$(PORT)/  (Ctrl-C stops web, worker and beat)"
	@echo "Sign in as field_agent, supervisor, hq_analyst, coordinator, auditor, partner_agency or admin,"
	@echo "password: $${FAMILYLINK_DEMO_PASSWORD:-familylink-demo}"
	@echo ""
	exec $(VENV)/bin/honcho start -f Procfile -p $(PORT)

test: install
	$(PY) manage.py ensure_database --roles-only
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy familylink apprehensions separations reunification audit events reports
	$(PY) manage.py makemigrations --check --dry-run --settings=familylink.settings.test
	$(VENV)/bin/pytest
	$(MAKE) --no-print-directory bench-smoke

# Fault tests (not in `make test`): each starts its own PostgreSQL cluster, Redis, gunicorn and Celery
# worker on free ports, breaks them (Redis stopped, worker SIGKILLed, PostgreSQL restarted) and prints
# its figures. Needs PostgreSQL 15's initdb/pg_ctl and redis-server; never touches 5432 or 6379.
test-faults: install
	$(VENV)/bin/pytest tests/faults -m faults -q -s -p no:cacheprovider

# Every bench/ script at a tiny scale, in seconds: a benchmark that no longer runs fails the tests.
bench-smoke: install
	PY=$(PY) bench/smoke.sh

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck:
	$(VENV)/bin/mypy familylink apprehensions separations reunification audit events reports
