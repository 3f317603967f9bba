# FamilyLink: `make run` to use it, `make test` to prove it. Both work on a fresh clone.
PYTHON ?= python3.11
PORT ?= 8000
VENV := .venv
PY := $(VENV)/bin/python
export PORT

.PHONY: run test test-faults install lint typecheck bench bench-smoke clean-venv lock lock-upgrade lock-check audit

# Reproducible installs: every package, pinned with its hashes, comes from requirements.lock, which
# `make lock` generates from pyproject.toml (dependencies + the dev extra); requirements-prod.lock
# (the Docker image) is the same pins without the dev extra. Each lock's first line records a hash
# of pyproject's dependency lists; installing refuses a lock that does not match.
LOCK := requirements.lock
PROD_LOCK := requirements-prod.lock
UV := $(VENV)/bin/uv
UV_SPEC := uv>=0.13,<0.14
UV_COMPILE = $(UV) pip compile pyproject.toml --generate-hashes --universal --python-version 3.11 \
	--custom-compile-command 'make lock' --quiet
# sha256 of pyproject's requires-python, dependencies and optional-dependencies (not of the whole
# file: editing [tool.ruff] must not ask for a new lock).
DEPS_HASH = $(PYTHON) -c 'import hashlib, json, tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	print(hashlib.sha256(json.dumps([p.get(k) for k in ("requires-python", "dependencies", "optional-dependencies")], sort_keys=True).encode()).hexdigest())'
LOCK_STAMP := \# pyproject-deps-sha256:

$(VENV)/.installed: pyproject.toml $(LOCK) $(PROD_LOCK)
	@$(MAKE) --no-print-directory lock-check
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# Fails loudly when pyproject.toml's dependencies changed and the lock was not regenerated.
lock-check:
	@want="$$($(DEPS_HASH))"; for lock in $(LOCK) $(PROD_LOCK); do \
	  have="$$(sed -n 's/^$(LOCK_STAMP) //p' $$lock 2>/dev/null)"; \
	  if [ "$$want" != "$$have" ]; then \
	    echo "ERROR: $$lock is out of date: pyproject.toml's dependencies changed since it was generated." >&2; \
	    echo "       Run 'make lock' and commit $(LOCK) and $(PROD_LOCK) with pyproject.toml." >&2; \
	    exit 1; \
	  fi; \
	done

$(UV):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet '$(UV_SPEC)'

# Regenerate the lock after editing pyproject.toml's dependencies; pins already in the lock are kept
# where they still satisfy pyproject. `make lock-upgrade` moves every pin to the newest allowed.
lock: $(UV)
	$(UV_COMPILE) --extra dev -o $(LOCK) $(LOCK_ARGS)
	$(UV_COMPILE) --constraint $(LOCK) -o $(PROD_LOCK)
	@stamp="$(LOCK_STAMP) $$($(DEPS_HASH))"; for lock in $(LOCK) $(PROD_LOCK); do \
	  { echo "$$stamp"; grep -v '^$(LOCK_STAMP)' $$lock; } > $$lock.tmp && mv $$lock.tmp $$lock; done
	@echo "$(LOCK) and $(PROD_LOCK) regenerated; commit them with pyproject.toml."

lock-upgrade:
	$(MAKE) --no-print-directory lock LOCK_ARGS=--upgrade

# Known vulnerabilities in the locked packages (pip-audit) and insecure code patterns (bandit, with
# the accepted findings and why in pyproject's [tool.bandit]).
# Bandit first (it needs no network); pip-audit --strict fails when a package could not be checked
# (vulnerability service unreachable) instead of reporting "no known vulnerabilities".
AUDIT_SERVICE ?= pypi
AUDIT_DIRS := familylink $(patsubst %/,%,$(dir $(wildcard */apps.py)))
audit: $(VENV)/.installed
	$(VENV)/bin/bandit -c pyproject.toml -r $(AUDIT_DIRS) --quiet
	@$(VENV)/bin/pip-audit --strict --require-hashes --disable-pip -r $(LOCK) --progress-spinner off \
	  --vulnerability-service $(AUDIT_SERVICE) || { echo "ERROR: pip-audit found vulnerabilities \
	(listed above) or could not check every package: is the $(AUDIT_SERVICE) vulnerability service \
	reachable? (AUDIT_SERVICE=osv to use OSV instead)" >&2; exit 1; }

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
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy familylink apprehensions separations reunification audit events reports legacy
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
	$(VENV)/bin/mypy familylink apprehensions separations reunification audit events reports legacy
