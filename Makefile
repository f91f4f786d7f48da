# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench bench-quick schemas holidays clean bytecode
.DEFAULT_GOAL := demo

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## bytecode: compile the project's modules ahead (seconds; a no-op when they are fresh). Why:
## where PYTHONDONTWRITEBYTECODE is set, every `cases` start compiled some 75 of them from
## source again, about 0.1 s of each command's start (bench B8).
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q services events bench examples

## demo: the main job on the embedded default (one process, SQLite, no Kafka)
demo: bytecode
	$(BIN)/cases demo

## test: the whole suite, on SQLite and a real PostgreSQL, with a real Kafka broker
## (installs and starts both where absent, stops what it started)
test: bytecode
	bash infra/run-tests.sh

## bench: every benchmark B1..B8 against its raw baseline; writes bench/results/ and prints the
## README's table (starts Kafka and PostgreSQL if they are not running; leaves them up).
## BENCH_SIZE=<cases> sets the size (default: each benchmark's, see bench/README.md)
bench: bytecode infra-up
	$(BIN)/python -m bench

## bench-quick: B1..B8 at toy size, one pair each: a smoke test of the suite, not a measurement
bench-quick: bytecode infra-up
	$(BIN)/python -m bench --quick

## schemas: write the events' JSON Schemas to events/schema/ (committed; a test checks they are fresh)
schemas: $(STAMP)
	$(BIN)/python -m events.schema_export

## clean: remove local stores and caches (stops the test infrastructure first)
clean: infra-down
	rm -rf var .pytest_cache

include infra/infra.mk

## holidays: write the bank holidays table the SLA clock reads (committed; a test checks it is fresh)
holidays: $(STAMP)
	$(BIN)/python -m services.review.domain.bank_holidays
