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
secure_started=0
# The secured broker for tests/security (SASL/SCRAM + ACLs), beside the plain one: its own
# state directory and ports, so the two never share data or credentials.
SECURE_INFRA_DIR="$PWD/var/infra-secure"
SECURE_KAFKA_PORT="${SECURE_KAFKA_PORT:-9192}"
SECURE_CONTROLLER_PORT="${SECURE_CONTROLLER_PORT:-19192}"
secure_kafka() {
  CASES_INFRA_DIR="$SECURE_INFRA_DIR" KAFKA_PORT="$SECURE_KAFKA_PORT" BROKERS=1 \
    KAFKA_CONTROLLER_PORT="$SECURE_CONTROLLER_PORT" SECURE=1 bash "infra/kafka/$1"
}
stop_started() {
  for service in "${started[@]}"; do bash "infra/$service/down.sh" >/dev/null 2>&1 || true; done
  if ((secure_started)); then secure_kafka down.sh >/dev/null 2>&1 || true; fi
}
trap stop_started EXIT

if ! port_open 127.0.0.1 "${KAFKA_PORT:-9092}"; then
  bash infra/kafka/up.sh >/dev/null
  started+=(kafka)
fi
if ! port_open 127.0.0.1 "$SECURE_KAFKA_PORT"; then
  secure_kafka up.sh >/dev/null
  secure_started=1
fi
if ! port_open 127.0.0.1 "${CASES_PG_PORT:-55432}"; then
  bash infra/postgres/up.sh >/dev/null
  started+=(postgres)
fi

export CASES_TEST_PG_DSN="postgresql://cases:cases@127.0.0.1:${CASES_PG_PORT:-55432}/cases"
export CASES_TEST_KAFKA="127.0.0.1:${KAFKA_PORT:-9092}"
export CASES_REQUIRE_SERVICES=1
export CASES_TEST_SECURE_KAFKA="127.0.0.1:$SECURE_KAFKA_PORT"
export CASES_TEST_SECURE_SECRETS="$SECURE_INFRA_DIR/kafka/secrets"
bash infra/prometheus/install.sh  # promtool and prometheus for tests/e2e/test_prometheus.py; starts nothing
bash infra/browser/install.sh >/dev/null  # Debian's chromium for tests/browser/ (Playwright drives it by path)
# The slowest tests are listed at the end of every run: where CI's time goes.
.venv/bin/python -m pytest --durations=15 "$@"
# The slow fault tests (the broker away 3 minutes, a three-broker cluster losing one for
# good) run as their own step, on brokers of their own, after a full run.
if (($# == 0)); then
  echo "slow fault tests (tests/faults, marker slow_faults)"
  CASES_SLOW_FAULTS=1 .venv/bin/python -m pytest tests/faults -m slow_faults
fi
