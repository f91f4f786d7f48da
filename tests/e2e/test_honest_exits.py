"""Over Kafka, an exit code tells the truth: 3 means nothing was recorded and comes within
seconds when no broker answers; a change that was recorded always prints its result (the
case id above all), saying when the services have not caught up yet, so a retry never
duplicates it."""

from __future__ import annotations

import time
from pathlib import Path

from services.bootstrap import EmbeddedRuntime
from tests.e2e.cli import Cases
from tests.fixtures import REQUEST, policy
from tests.kafka_support import Workers, exclusive_bus, kafka_bootstrap, reset_bus


def stored_events(home: Path) -> int:
    """Events in the home's stores; a home where no store was ever made holds none."""
    if not any(home.glob("*.sqlite")):
        return 0
    rt = EmbeddedRuntime(home, readonly=True)
    try:
        return sum(1 for app in rt.services.values() for _ in app.stored_events())
    finally:
        rt.close()


def test_no_broker_is_unavailable_within_seconds_and_records_nothing(tmp_path: Path) -> None:
    cases = Cases(tmp_path / "home", env={"CASES_BUS": "kafka://127.0.0.1:1"})
    started = time.monotonic()
    done = cases("policies", "load", cases.write("policies.json", {"policies": [policy()]}))
    assert done.code == 3, done.stderr
    assert done.json["error"] == "unavailable" and "broker" in done.json["message"]
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 15
    assert stored_events(tmp_path / "home") == 0


def test_a_recorded_change_prints_its_result_even_when_the_followers_are_away(tmp_path: Path) -> None:
    """Only intake's worker runs: `policies load` and `open` are recorded by intake itself,
    so each prints its result (the case id above all) and says the deployment has not
    caught up, rather than failing in a way that would invite a duplicating retry."""
    bootstrap = kafka_bootstrap()
    with exclusive_bus():
        reset_bus(bootstrap)
        home = tmp_path / "home"
        cases = Cases(home, env={"CASES_BUS": f"kafka://{bootstrap}", "CASES_SETTLE_SECONDS": "2"})
        cases("topics")
        workers = Workers(home, bootstrap, tmp_path / "logs")
        (tmp_path / "logs").mkdir()
        try:
            for name in ("intake", "records", "review", "reporting"):
                workers.start(name)  # the deployment: its keys and each service's store
            for name in ("records", "review", "reporting"):
                workers.kill(name)  # the followers go away; intake stays
            loaded = cases("policies", "load", cases.write("policies.json", {"policies": [policy()]}))
            assert loaded.code == 0 and loaded.json["loaded"] == 1
            opened = cases("open", cases.write("case.json", REQUEST))
            assert opened.code == 0, opened.stderr
            assert opened.json["case_id"] and opened.json["settled"] is False
            assert opened.json["pending"]
        finally:
            workers.stop()


def test_a_command_whose_service_is_not_running_is_unavailable_and_records_nothing(tmp_path: Path) -> None:
    """Over Kafka a command reaches its own service's worker; with intake's worker away,
    `cases open` exits 3 at once and nothing is recorded anywhere."""
    bootstrap = kafka_bootstrap()
    with exclusive_bus():
        reset_bus(bootstrap)
        home = tmp_path / "home"
        cases = Cases(home, env={"CASES_BUS": f"kafka://{bootstrap}", "CASES_SETTLE_SECONDS": "2"})
        workers = Workers(home, bootstrap, tmp_path / "logs")
        (tmp_path / "logs").mkdir()
        try:
            for name in ("intake", "records", "review", "reporting"):
                workers.start(name)  # the deployment: its keys and each service's store
        finally:
            workers.stop()  # then every worker goes
        before = stored_events(home)
        opened = cases("open", cases.write("case.json", REQUEST))
        assert opened.code == 3, opened.stdout
        assert "intake worker is not running" in opened.json["message"]
        assert "Traceback" not in opened.stderr
        assert stored_events(home) == before
