"""The four services as separate processes on a real Kafka broker."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from kafka import KafkaConsumer, KafkaProducer

from events.topics import DEADLETTER_TOPIC, SERVICES, case_topic
from services.bootstrap import EmbeddedRuntime
from tests.e2e.cli import Cases
from tests.e2e.test_cli_walk import walk_third_party_case
from tests.fixtures import policy, request
from tests.kafka_support import Workers, kafka_bootstrap, running_workers


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Workers, Cases]]:
    bootstrap = kafka_bootstrap()
    home = tmp_path / "home"
    with running_workers(home, bootstrap, tmp_path / "logs") as workers:
        yield workers, Cases(home, env={"CASES_BUS": f"kafka://{bootstrap}"})


def read_topic(bootstrap: str, topic: str) -> list:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=3000, group_id=None)
    messages = list(consumer)
    consumer.close()
    return messages


def test_case_walk_over_kafka(deployment: tuple[Workers, Cases]) -> None:
    workers, cases = deployment
    case = walk_third_party_case(cases)
    # A reader knowing only the topics and kafka-python finds every event of the case,
    # keyed by case id, each service's events in the case's own order.
    replayed = cases("replay", case).json["events"]
    found: dict[str, list[dict]] = defaultdict(list)
    for service in SERVICES:
        for message in read_topic(workers.bootstrap, case_topic(service)):
            if message.key == case.encode():
                payload = json.loads(message.value)
                headers = dict(message.headers)
                assert headers["type"].decode() == payload["type"]
                assert headers["source_service"].decode() == service
                assert headers["event_id"].decode() == payload["event_id"]
                found[service].append(payload)
    assert sum(len(v) for v in found.values()) == len(replayed)
    assert {e["event_id"] for v in found.values() for e in v} == {e["event_id"] for e in replayed}
    for service, events in found.items():
        versions = [e["originator_version"] for e in events]
        assert versions == sorted(versions) == list(range(1, len(versions) + 1)), service

    # No topic carries the member's identifiers or the free text about them in plaintext:
    # they travel sealed under the member's own key.
    on_topics = b"".join(m.value for s in SERVICES for m in read_topic(workers.bootstrap, case_topic(s)))
    for text in ("Jane Doe", "9434765919", "1980-04-02", "SW1A 1AA", "jane@example.org",
                 "07700900123", "Dr A Smith", "High Street Surgery", "gp@example.org",
                 "Full-thickness tear", "Open surgical repair"):
        assert text.encode() not in on_topics, text

    # The auditor's tools read what reporting built from the topics.
    history = cases("consent", "history", case).json["history"]
    assert [(h["scope"], h["action"]) for h in history] == [
        ("records_access", "granted"), ("third_party_disclosure", "granted"), ("share_with_gp", "granted")]
    exported = cases("replay", case, "--export", str(workers.home.parent / "evidence")).json
    assert exported["findings"] == [] and len(exported["exported"]) == 2
    assert all(d["valid"] for d in exported["disclosures"])

    # The stores' chains hold, and every case topic matches its store byte for byte.
    verified = cases("verify")
    assert verified.code == 0 and verified.json["ok"], verified.json["broken"]
    forged = KafkaProducer(bootstrap_servers=workers.bootstrap)
    original = next(m for m in read_topic(workers.bootstrap, case_topic("records"))
                    if m.key == case.encode() and b"records_access" in m.value)
    forged.send(case_topic("records"), key=original.key,
                value=original.value.replace(b"records_access", b"share_with_gp"),
                headers=original.headers)
    forged.flush()
    forged.close()
    verified = cases("verify")
    assert verified.code == 1
    [finding] = verified.json["broken"]
    assert finding["service"] == "records" and "differs" in finding["problem"]

    # The views rebuilt from every case topic, from offset 0, equal the live ones.
    rebuilt = cases("rebuild")
    assert rebuilt.code == 0 and rebuilt.json["equal_to_live"] is True
    assert rebuilt.json["rewritten"] is False  # equal views are left as they are
    assert cases("show", case).json["status"] == "report_issued"

    # Someone deletes a row of the live trail: the rebuild names the case, reads the topics
    # again to write the views afresh, and the next rebuild finds them equal.
    import sqlite3

    with sqlite3.connect(workers.home / "reporting.sqlite") as db:
        db.execute("DELETE FROM reporting_case_events WHERE event_id ="
                    " (SELECT event_id FROM reporting_case_events WHERE case_id = ? LIMIT 1)", (case,))
    drifted = cases("rebuild")
    assert drifted.code == 0, drifted.stderr
    assert drifted.json["differences"] == [f"case {case}: trail differs"] and drifted.json["rewritten"]
    assert cases("rebuild").json["equal_to_live"] is True


def test_declined_and_bad_input_over_kafka(deployment: tuple[Workers, Cases]) -> None:
    _, cases = deployment
    cases("policies", "load", cases.write("policies.json", {"policies": [policy(status="cancelled")]}))
    opened = cases("open", cases.write("case.json", request()))
    assert opened.json["status"] == "declined"
    refused = cases("consent", "grant", opened.json["case_id"], "--scope", "records_access")
    assert refused.code == 1 and refused.json["reason"] == "case_declined"
    assert cases("open", cases.write("bad.json", request(nhs_number="123"))).code == 2


def test_poison_messages_go_to_the_dead_letter_topic_and_the_worker_goes_on(
    deployment: tuple[Workers, Cases],
) -> None:
    workers, cases = deployment
    producer = KafkaProducer(bootstrap_servers=workers.bootstrap)
    forged = [("source_service", b"intake"), ("notification_id", b"999999")]  # a high position
    producer.send(case_topic("intake"), key=b"x", value=b"{not json",
                  headers=[*forged, ("type", b"case_opened"), ("event_id", b"e1")])
    producer.send(case_topic("intake"), key=b"y", value=b'{"type": "no_such_event"}',
                  headers=[*forged, ("type", b"no_such_event"), ("event_id", b"e2")])
    producer.send(case_topic("intake"), key=b"z", value=b"{}")  # no headers at all
    # A real event re-sent as a newer schema version, and one whose type header lies.
    newer = b'{"type": "case_cancelled", "schema_version": 99, "event_id": "00000000-0000-4000-8000-000000000001"}'
    producer.send(case_topic("intake"), key=b"v", value=newer,
                  headers=[*forged, ("type", b"case_cancelled"),
                           ("event_id", b"00000000-0000-4000-8000-000000000001")])
    producer.flush()
    cases("policies", "load", cases.write("policies.json", {"policies": [policy()]}))
    # Cases opened after the forged high positions reach every service all the same.
    opened = [cases("open", cases.write(f"case{i}.json", request())).json["case_id"] for i in range(4)]
    for case in opened:
        assert cases("show", case).json["status"] == "awaiting_consent"
        granted = cases("consent", "grant", case, "--scope", "records_access")
        assert granted.code == 0 and granted.json["status"] == "collecting_records"

    deadline = time.monotonic() + 30
    reasons: list[str] = []
    while time.monotonic() < deadline and len(reasons) < 12:
        reasons = [dict(m.headers)["dlq_reason"].decode()
                   for m in read_topic(workers.bootstrap, DEADLETTER_TOPIC)]
    # Each of the three consumers of the intake topic parks each of the four messages.
    assert len(reasons) >= 12
    assert any(r == "undecodable: not JSON" for r in reasons)
    assert any(r == "undecodable: type: not a known event type" for r in reasons)
    assert any(r.startswith("missing header") for r in reasons)
    assert any("newer than this code reads" in r for r in reasons)
    assert not any("Error" in r for r in reasons)  # reasons for people, not class names
    for name in ("records", "review", "reporting"):
        assert workers.processes[name].poll() is None, f"{name} worker died"

    # The topics keep the poison for ever: a rebuild skips it, says so, leaves nothing behind.
    rebuilt = cases("rebuild")
    assert rebuilt.code == 0, rebuilt.stderr
    assert rebuilt.json["equal_to_live"] is True
    skipped = rebuilt.json["skipped"]
    assert len(skipped) == 4 and {s["topic"] for s in skipped} == {case_topic("intake")}
    assert all(s["reason"] and "Error" not in s["reason"] for s in skipped)
    import sqlite3

    with sqlite3.connect(workers.home / "reporting.sqlite") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert not [t for t in tables if t.startswith("reporting_rb")]


def test_a_worker_killed_mid_batch_loses_nothing_and_applies_nothing_twice(
    deployment: tuple[Workers, Cases], tmp_path: Path,
) -> None:
    workers, cases = deployment
    cases("policies", "load", cases.write("policies.json", {"policies": [policy()]}))
    from services.bootstrap import build_service
    from services.common.context import Context, SystemClock
    from services.intake.request_file import parse_case_request

    # Open a batch straight into intake's store: the workers pick it up at their pace.
    intake = build_service("intake", workers.home, SystemClock())
    text = json.dumps(request())
    batch = 40
    for _ in range(batch):
        ctx = Context(actor="user:test", now=intake.clock.now())
        intake.open_case(parse_case_request(text, ctx.today), ctx)  # type: ignore[attr-defined]
    intake.close()

    records_store = workers.home / "records.sqlite"
    _wait_for_rows(records_store, at_least=20)
    workers.kill("records")  # SIGKILL, mid-batch
    workers.start("records")
    _wait_for_rows(records_store, at_least=batch * 2)
    cases("sla", "sweep")  # any command waits for the deployment to settle

    runtime = EmbeddedRuntime(workers.home)  # read the stores; no pumping here
    try:
        states = runtime.reporting.views.all_states()
        assert len(states) == batch
        assert {s["status"] for s in states} == {"awaiting_consent"}
        assert {s["events"] for s in states} == {5}  # 3 intake + 2 records: none lost, none twice
        per_case = Counter(
            e.case_id for e in _records_events(runtime) if e.type_name == "case_file_opened")
        assert len(per_case) == batch and set(per_case.values()) == {1}
    finally:
        runtime.close()


def _wait_for_rows(store: Path, at_least: int, timeout: float = 60) -> None:
    import sqlite3

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as db:
                if db.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0] >= at_least:
                    return
        except sqlite3.OperationalError:
            pass
        time.sleep(0.005)
    raise AssertionError(f"{store.name} never held {at_least} events")


def _records_events(runtime: EmbeddedRuntime) -> list:
    return list(runtime.records.stored_events())


def test_case_ids_are_uuids_on_the_topics(deployment: tuple[Workers, Cases]) -> None:
    workers, cases = deployment
    cases("policies", "load", cases.write("policies.json", {"policies": [policy()]}))
    case = cases("open", cases.write("case.json", request())).json["case_id"]
    keys = {m.key for m in read_topic(workers.bootstrap, case_topic("intake"))}
    assert case.encode() in keys
    assert all(UUID(k.decode()) for k in keys)
