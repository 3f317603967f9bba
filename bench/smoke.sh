#!/usr/bin/env bash
# `make bench-smoke`: every bench/ script at a tiny scale on a throwaway database, in seconds, so a
# benchmark that no longer runs on the current schema fails `make test` (a broken benchmark is a broken test).
# The figures printed here mean nothing; the real runs and their commands are in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DB=${BENCH_SMOKE_DB:-familylink_bench_smoke}
# As in production: benchmarks run as the app role; migrate and seed_demo switch to the owner.
export DATABASE_URL="postgres://familylink_app@127.0.0.1:5432/${DB}"
export DATABASE_OWNER_URL="postgres://familylink_owner@127.0.0.1:5432/${DB}"
export DJANGO_SETTINGS_MODULE=familylink.settings.base

run() {
  echo "== $*"
  local started=$SECONDS
  "$@" > "var/bench-smoke.log" 2>&1 || { cat var/bench-smoke.log; echo "bench-smoke: FAILED: $*"; exit 1; }
  tail -n 2 var/bench-smoke.log
  echo "   ($((SECONDS - started)) s)"
}

mkdir -p var
psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS ${DB} WITH (FORCE)" >/dev/null
run "$PY" manage.py ensure_database
run "$PY" manage.py migrate --noinput -v0
run "$PY" manage.py seed_demo --scale 2000
run "$PY" bench/scenario_separations.py --persons 2000 --separations 100
run "$PY" bench/asof.py --runs 2 --warmup 1
run "$PY" bench/intake.py --requests 5 --warmup 1
run "$PY" bench/person_reads.py
run "$PY" bench/worklists.py --cases 300 --workers 2 --claims-per-worker 10
run "$PY" bench/worklists.py --cases 300 --rolled-back-builds 1
run "$PY" bench/court.py --runs 1
run "$PY" bench/alerts.py --sample 5
run "$PY" bench/pages.py --runs 1 --user hq_analyst --user coordinator --user auditor
run "$PY" bench/load.py --field-agents 1 --analysts 1 --coordinators 1 --run-time 5 --cases 300 --person-sample 50 \
  --web-workers 1 --worker-concurrency 1
run "$PY" bench/audit_chain.py
run "$PY" bench/audit_chain.py --append 200 --runs 1 --small 5
run "$PY" bench/search.py --queries 5
run "$PY" bench/series.py --runs 1 --warmup 0 --bare-runs 1
run "$PY" bench/events.py --events 100 --repeat 1 --transfers 3
run "$PY" bench/linkage_scale.py discovery
run "$PY" bench/linkage_scale.py blocks
run "$PY" bench/linkage_scale.py intake --requests 3 --warmup 1
run "$PY" bench/legacy_import.py --rows 20 --breakdown --statements 3
run "$PY" bench/linkage/quality.py --persons 500 --splink none --examples 1
# the labelled database that run wrote (its name ends with a hash of the data)
QDB=$(grep -o "database ${DB}_q500_s1_[0-9a-f]*" var/bench-smoke.log | head -n 1 | cut -d' ' -f2)
DATABASE_URL="postgres://familylink_app@127.0.0.1:5432/${QDB}" DATABASE_OWNER_URL="postgres://familylink_owner@127.0.0.1:5432/${QDB}" \
  run "$PY" bench/linkage_scale.py blocks --labelled 500 1
DATABASE_URL="postgres://familylink_app@127.0.0.1:5432/${QDB}" DATABASE_OWNER_URL="postgres://familylink_owner@127.0.0.1:5432/${QDB}" \
  run "$PY" bench/linkage_scale.py calibration 500 1
echo "bench-smoke: every benchmark ran"
