# `make run` and `make test` are the two commands README promises; everything else serves them.
# `make dev` is `make run` with Django's auto-reloading server in place of gunicorn.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run dev test test-cluster lint format bench setup clean

$(PY):
	"$$(sh scripts/find-python.sh)" -m venv $(VENV)

# Reinstall only when requirements.txt changes, so a second `make run` is fast.
$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

setup: $(STAMP)
	DJANGO_DEBUG=1 $(PY) manage.py migrate --no-input
	DJANGO_DEBUG=1 $(PY) manage.py seed_catalog
	DJANGO_DEBUG=1 $(PY) manage.py seed_examples

run: setup
	DJANGO_DEBUG=1 sh scripts/run.sh $(PY)

dev: setup
	DJANGO_DEBUG=1 sh scripts/run.sh $(PY) dev

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Runs on SQLite, and on PostgreSQL too when DATABASE_URL is set
# (SKIP_SQLITE=1 leaves out the SQLite run, as .ci/run does for its second pass).
# The browser tests (about four minutes) run once: in the PostgreSQL pass when there is one
# (DATABASE_URL set, or BROWSER_ON_PG=1 as .ci/run says for its SQLite pass), else on SQLite, whose
# test database is a file so the live server's threads each have their own connection (settings.py).
SQLITE_MARKS := $(if $(DATABASE_URL)$(BROWSER_ON_PG),-m "not browser",)
test: lint
	@if [ -z "$(SKIP_SQLITE)" ]; then echo "== pytest on SQLite =="; DJANGO_DEBUG=1 DATABASE_URL= $(PY) -m pytest -q $(SQLITE_MARKS); fi
	@if [ -n "$$DATABASE_URL" ]; then echo "== pytest on $$DATABASE_URL =="; DJANGO_DEBUG=1 $(PY) -m pytest -q; fi

# Not part of `make test`: needs PostgreSQL (postgres@127.0.0.1:5432, trust) and Redis (127.0.0.1:6379);
# makes and drops its own database, uses Redis DB 15 (BENCH_PG, BENCH_REDIS_DB change them), takes
# under 10 minutes and rewrites docs/performance.md. BENCH_QUICK=1 is a smoke run that writes to /tmp.
bench: $(STAMP)
	DJANGO_DEBUG=1 $(PY) bench/run.py

# Two web and two worker hosts on one PostgreSQL, Redis, S3 (moto's server) and the KIE simulator,
# a burst of 500 with a worker killed and a web host stopped half way; exits 1 when a check fails.
# Needs PostgreSQL (postgres@127.0.0.1:5432) and Redis (127.0.0.1:6379), makes and drops its own
# database, uses Redis DB 14 (CLUSTER_PG, CLUSTER_REDIS_DB change them). docs/deploy.md says what it proves.
test-cluster: $(STAMP)
	DJANGO_DEBUG=1 $(PY) bench/cluster.py

clean:
	rm -rf $(VENV) var
