"""`cases deadletter list|retry|resolve` on a real broker with the four workers: a poison
message is listed without its data, fails `cases verify` until a person resolves it (the
resolution is in reporting's log), and a valid event that was dead-lettered is applied by a
retry exactly once, however often it is retried and whatever the worker does later."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from events.topics import DEADLETTER_TOPIC, case_topic
from tests.e2e.cli import Cases, Result
from tests.e2e.test_kafka_deployment import read_topic
from tests.fixtures import policy, request
from tests.kafka_support import Workers, kafka_bootstrap, running_workers

#: Personal data inside the poison message: it must never be shown.
SECRET_NAME, SECRET_NHS = "Jane Doe", "9434765919"


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Workers, Cases]]:
    bootstrap = kafka_bootstrap()
    home = tmp_path / "home"
    with running_workers(home, bootstrap, tmp_path / "logs") as workers:
        yield workers, Cases(home, env={"CASES_BUS": f"kafka://{bootstrap}"})


def eventually(what: str, probe: Callable[[], Any], timeout: float = 60) -> Any:
    """Wait for the workers (asynchronous by nature) until `probe` returns something."""
    deadline = time.monotonic() + timeout
    while (found := probe()) in (None, False, [], {}):
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.3)
    return found


def dead_letters(cases: Cases) -> list[dict[str, Any]]:
    listed = cases("deadletter", "list")
    assert listed.code == 0, listed.stderr
    return list(listed.json["dead_letters"])


def at_least(count: int, found: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    return found if len(found) >= count else None


def bad_input(result: Result, field: str) -> None:
    assert result.code == 2, (result.stdout, result.stderr)
    assert result.json["error"] == "bad_input" and result.json["field"] == field
    assert "Traceback" not in result.stderr


def open_case(cases: Cases) -> str:
    cases("policies", "load", cases.write("policies.json", {"policies": [policy()]}))
    opened = cases("open", cases.write("case.json", request()))
    assert opened.code == 0, opened.stderr
    return str(opened.json["case_id"])


def test_a_poison_message_is_listed_without_its_data_and_resolved_after_review(
    deployment: tuple[Workers, Cases],
) -> None:
    workers, cases = deployment
    open_case(cases)
    producer = KafkaProducer(bootstrap_servers=workers.bootstrap)
    poison = json.dumps({"name": SECRET_NAME, "nhs_number": SECRET_NHS})[:-1].encode()  # not JSON
    sent = producer.send(case_topic("intake"), key=b"forged", value=poison,
                         headers=[("type", b"case_opened"), ("event_id", b"e1"),
                                  ("source_service", b"intake"), ("notification_id", b"999999")]).get(30)
    producer.close()

    # Each service that follows intake parks it: three dead letters, one per service.
    letters = eventually("three dead letters", lambda: at_least(3, dead_letters(cases)))
    assert sorted(d["consumer"] for d in letters) == ["records", "reporting", "review"]
    for letter in letters:
        assert letter["origin"] == {"topic": case_topic("intake"), "partition": sent.partition,
                                    "offset": sent.offset}
        assert letter["event_type"] == "case_opened" and letter["event_id"] is None  # "e1" is no id
        assert letter["reason"] == "undecodable: not JSON"
        assert letter["state"] == "open" and letter["resolution"] is None and letter["retries"] == 0
        assert letter["id"].isdigit()
    human = cases("deadletter", "list", as_json=False)
    assert human.code == 0 and "undecodable: not JSON" in human.stdout
    for shown in (human.stdout + human.stderr, json.dumps(letters)):
        assert SECRET_NAME not in shown and SECRET_NHS not in shown

    verified = cases("verify")
    assert verified.code == 1 and verified.json["ok"] is False
    assert {b["dead_letter"] for b in verified.json["broken"] if "dead_letter" in b} == {d["id"] for d in letters}
    assert any(b.get("topic", "").startswith(case_topic("intake")) for b in verified.json["broken"])

    # Retrying poison fails again: it stays open, with the reason, exit 1.
    first = letters[0]["id"]
    retried = cases("deadletter", "retry", first)
    assert retried.code == 1 and retried.json["reason"] == "still_failing"
    assert "undecodable: not JSON" in retried.json["message"]
    again = next(d for d in dead_letters(cases) if d["id"] == first)
    assert again["state"] == "open" and again["retries"] == 1
    assert again["last_retry"]["outcome"] == "failed"

    # Bad input: exit 2 naming the field; nothing recorded.
    bad_input(cases("deadletter", "resolve", first, "--note", "  "), "--note")
    bad_input(cases("deadletter", "resolve", "99999", "--note", "ok"), "ID")
    bad_input(cases("deadletter", "resolve", "not-an-id", "--note", "ok"), "ID")
    bad_input(cases("deadletter", "retry", "99999"), "ID")
    assert cases("deadletter", "resolve", first).code == 2  # --note is required
    assert all(d["state"] == "open" for d in dead_letters(cases))

    # A person reviews it and resolves each: verify passes again, and still lists them.
    for letter in letters:
        resolved = cases("deadletter", "resolve", letter["id"], "--note", "forged test message, reviewed",
                         "--by", "ops-alice")
        assert resolved.code == 0, resolved.stderr
        assert resolved.json["dead_letter"]["state"] == "resolved"
    twice = cases("deadletter", "resolve", first, "--note", "again")
    assert twice.code == 1 and twice.json["reason"] == "dead_letter_resolved"
    assert cases("deadletter", "retry", first).json["reason"] == "dead_letter_resolved"

    verified = cases("verify")
    assert verified.code == 0 and verified.json["ok"] is True, verified.json["broken"]
    assert {d["id"]: d["state"] for d in verified.json["dead_letters"]} == {d["id"]: "resolved" for d in letters}
    for letter in dead_letters(cases):
        assert letter["state"] == "resolved"
        assert letter["resolution"]["by"] == "ops-alice"
        assert letter["resolution"]["note"] == "forged test message, reviewed"
        assert letter["resolution"]["at"]

    # The resolutions are events of reporting's log, on its topic like every other.
    logged = eventually("the resolutions on reporting's topic", lambda: [
        json.loads(m.value) for m in read_topic(workers.bootstrap, case_topic("reporting"))
        if dict(m.headers)["type"] == b"dead_letter_resolved"] or None)
    assert sorted(e["consumer"] for e in logged) == ["records", "reporting", "review"]
    assert {e["resolved_by"] for e in logged} == {"ops-alice"}
    for event in logged:
        assert SECRET_NAME not in json.dumps(event)


    # A partner's bad opinion, parked by review's partner gateway: listed like the others,
    # not retried from the command line (the partner sends again), resolved after review.
    producer = KafkaProducer(bootstrap_servers=workers.bootstrap)
    parked = producer.send(DEADLETTER_TOPIC, key=b"p", value=poison, headers=[
        ("dlq_reason", b"invalid: case_id: not a case id"), ("dlq_consumer", b"review-partners"),
        ("dlq_origin", b"partner.acme.opinions.v1:0:7")]).get(30)
    producer.close()
    partner = next(d for d in dead_letters(cases) if d["id"] == str(parked.offset))
    assert partner["consumer"] == "review-partners" and partner["state"] == "open"
    assert partner["origin"] == {"topic": "partner.acme.opinions.v1", "partition": 0, "offset": 7}
    assert cases("verify").code == 1
    refused = cases("deadletter", "retry", partner["id"])
    assert refused.code == 1 and refused.json["reason"] == "not_retryable"
    assert cases("deadletter", "resolve", partner["id"], "--note", "partner resent it").code == 0
    assert cases("verify").code == 0


def test_a_dead_lettered_event_whose_effect_is_stored_is_not_applied_twice_by_retry(
    deployment: tuple[Workers, Cases],
) -> None:
    """Retry reaches the owning service's own worker (services/runtime/commands.py); an
    event that worker has applied since is not applied again. (That retry applies an event
    the service never applied is shown in tests/application/test_dead_letter_retry.py.)"""
    workers, cases = deployment
    case = open_case(cases)
    # Reporting is down while the member's consent is recorded.
    workers.processes["reporting"].send_signal(signal.SIGTERM)
    workers.processes["reporting"].wait(timeout=60)
    quick = Cases(cases.home, env={**cases.env, "CASES_SETTLE_SECONDS": "2"})
    granted = quick("consent", "grant", case, "--scope", "records_access")
    assert granted.code == 0, granted.stderr
    grant = eventually("the grant on records' topic", lambda: next(
        (m for m in read_topic(workers.bootstrap, case_topic("records"))
         if m.key == case.encode() and dict(m.headers)["type"] == b"consent_granted"), None))

    # As reporting's worker would have parked it after a failure of its reaction.
    producer = KafkaProducer(bootstrap_servers=workers.bootstrap)
    origin = f"{grant.topic}:{grant.partition}:{grant.offset}"
    parked = producer.send(DEADLETTER_TOPIC, key=grant.key, value=grant.value, headers=[
        *grant.headers, ("dlq_reason", b"reaction failed: consent_granted: an unexpected error in the reaction"),
        ("dlq_consumer", b"reporting"), ("dlq_origin", origin.encode())]).get(30)
    producer.close()
    letter_id = str(parked.offset)
    [letter] = dead_letters(cases)
    assert letter["id"] == letter_id and letter["consumer"] == "reporting"
    assert letter["event_type"] == "consent_granted"
    assert letter["event_id"] == json.loads(grant.value)["event_id"]
    assert letter["state"] == "open"
    assert cases("verify").code == 1

    # With reporting's worker away, a retry cannot happen and says so: nothing recorded.
    away = quick("deadletter", "retry", letter_id)
    assert away.code == 3 and "reporting worker is not running" in away.json["message"]

    # The worker comes back and reads the grant from its topic; a retry then changes nothing.
    workers.start("reporting")
    assert cases("sla", "sweep").code == 0  # a command waits until the workers caught up
    history = cases("consent", "history", case).json["history"]
    assert [(h["scope"], h["action"]) for h in history] == [("records_access", "granted")]
    for _ in range(2):
        repeated = cases("deadletter", "retry", letter_id)
        assert repeated.code == 0, repeated.stderr
        assert repeated.json["outcome"] == "already_applied"
        assert cases("consent", "history", case).json["history"] == history
    assert cases("show", case).json["status"] == "collecting_records"
    [letter] = dead_letters(cases)
    assert letter["state"] == "retried" and letter["retries"] == 2
    verified = cases("verify")
    assert verified.code == 0, verified.json["broken"]
    assert [d["state"] for d in verified.json["dead_letters"]] == ["retried"]
    # A dead letter whose effect is stored needs no resolution.
    done = cases("deadletter", "resolve", letter_id, "--note", "applied by retry")
    assert done.code == 1 and done.json["reason"] == "dead_letter_retried"


def test_without_kafka_dead_letters_do_not_exist(tmp_path: Path) -> None:
    cases = Cases(tmp_path / "home", env={"CASES_BUS": ""})
    for args in (("list",), ("retry", "3"), ("resolve", "3", "--note", "reviewed")):
        result = cases("deadletter", *args)
        bad_input(result, "CASES_BUS")
        assert "only over Kafka" in result.json["problem"]
