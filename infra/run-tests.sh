#!/usr/bin/env bash
# `make test`: start the real Kafka broker and PostgreSQL where they are not running,
# run the whole suite against them, and stop again only what this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

# The guard rails first: they take seconds and name what broke.
echo "guard rails: ruff, mypy (strict on events/ and every domain/), import contracts"
.venv/bin/ruff check services events tests bench examples
.venv/bin/mypy events services
.venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

started=()
stop_started() {
  for service in "${started[@]}"; do bash "infra/$service/down.sh" >/dev/null 2>&1 || true; done
}
trap stop_started EXIT

if ! port_open 127.0.0.1 "${KAFKA_PORT:-9092}"; then
  bash infra/kafka/up.sh >/dev/null
  started+=(kafka)
fi
if ! port_open 127.0.0.1 "${CASES_PG_PORT:-55432}"; then
  bash infra/postgres/up.sh >/dev/null
  started+=(postgres)
fi

export CASES_TEST_PG_DSN="postgresql://cases:cases@127.0.0.1:${CASES_PG_PORT:-55432}/cases"
export CASES_TEST_KAFKA="127.0.0.1:${KAFKA_PORT:-9092}"
export CASES_REQUIRE_SERVICES=1
bash infra/prometheus/install.sh  # promtool and prometheus for tests/e2e/test_prometheus.py; starts nothing
.venv/bin/python -m pytest "$@"
