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
if (($# > 0)); then
  .venv/bin/python -m pytest --durations=15 "$@"
  exit
fi
# A whole run goes in two lanes side by side, one per core (tests/conftest.py marks the
# lanes). The tests that use a broker run one after another in their own lane, as they
# must (they reset the shared broker's topics, start four workers each, stop brokers of
# their own); the others, then the slow fault tests, run in the second lane. Why: the
# broker tests, mostly waiting on brokers and workers, were about half of CI's time, and
# the CPU-bound rest waited behind them. Each lane's report is printed whole.
lanes="$PWD/var/test-lanes"
mkdir -p "$lanes"
.venv/bin/python -m pytest -m brokers --durations=15 -p no:cacheprovider \
  --basetemp=/tmp/cases-tests-brokers >"$lanes/brokers.log" 2>&1 &
broker_lane=$!
rest=0
{
  .venv/bin/python -m pytest -m "not brokers" --durations=15 --basetemp=/tmp/cases-tests-rest || rest=$?
  # The slow fault tests (the broker away 3 minutes, a three-broker cluster losing one for
  # good) on brokers of their own, as their own step.
  echo "slow fault tests (tests/faults, marker slow_faults)"
  CASES_SLOW_FAULTS=1 .venv/bin/python -m pytest tests/faults -m slow_faults -p no:cacheprovider \
    --basetemp=/tmp/cases-tests-slow || rest=$?
} >"$lanes/rest.log" 2>&1
brokers=0
wait "$broker_lane" || brokers=$?
echo "== lane 1: the tests that use a broker"
cat "$lanes/brokers.log"
echo "== lane 2: the other tests, then the slow fault tests"
cat "$lanes/rest.log"
if ((brokers != 0 || rest != 0)); then
  echo "FAILED: broker lane exit $brokers, other lane exit $rest"
  exit 1
fi
