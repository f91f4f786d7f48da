"""A reviewer partner on a real Kafka broker, as a partner sees it: packs arrive on its
requests topic, it answers on its opinions topic with nothing but kafka-python and JSON,
and a bad answer is dead-lettered and rejected back to it (SPEC section 9)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from events.topics import DEADLETTER_TOPIC
from tests.e2e.cli import Cases
from tests.fixtures import policy, request
from tests.kafka_support import kafka_bootstrap, running_workers

REQUESTS, OPINIONS = "partner.acme.requests.v1", "partner.acme.opinions.v1"
IDENTIFIERS = ("Jane Doe", "9434765919", "1980-04-02", "SW1A 1AA", "jane@example.org", "07700900123",
               "Dr A Smith", "High Street Surgery", "gp@example.org")


def read_all(bootstrap: str, topic: str) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        found: list[Any] = []
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for messages in consumer.poll(timeout_ms=500).values():
                found.extend(messages)
        return found
    finally:
        consumer.close()


def eventually(what: str, look: Callable[[], Any], timeout: float = 90) -> Any:
    """Poll until `look` finds something (the workers run in their own processes)."""
    deadline = time.monotonic() + timeout
    while True:
        found = look()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.3)


def messages_of(bootstrap: str, topic: str, kind: str) -> list[dict[str, Any]]:
    return [json.loads(m.value) for m in read_all(bootstrap, topic) if json.loads(m.value).get("type") == kind]


def answer(bootstrap: str, message: dict[str, Any]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    producer.send(OPINIONS, key=message["pack_id"].encode(), value=json.dumps(message).encode())
    producer.flush()
    producer.close()


def test_a_partner_answers_over_kafka_and_a_bad_answer_is_dead_lettered_and_rejected(tmp_path: Path) -> None:
    bootstrap = kafka_bootstrap()
    home = tmp_path / "home"
    with running_workers(home, bootstrap, tmp_path / "logs"):
        cases = Cases(home, env={"CASES_BUS": f"kafka://{bootstrap}"})
        password = cases.write("acme.password", "a-partner-password-0123\n")
        added = cases("partner", "add", "acme", "--specialties", "orthopaedics", "--password-file", password)
        assert added.code == 0, added.stderr
        assert {k: added.json[k] for k in ("partner", "principal", "requests_topic", "opinions_topic")} == {
            "partner": "acme", "principal": "User:partner-acme", "requests_topic": REQUESTS,
            "opinions_topic": OPINIONS}

        assert cases("policies", "load", cases.write("policies.json", {"policies": [policy()]})).code == 0
        case = cases("open", cases.write("case.json", request())).json["case_id"]
        for step in (("consent", "grant", case, "--scope", "records_access"),
                     ("records", "add", case, "--kind", "imaging", "--source", "Radiology"),
                     ("records", "complete", case),
                     ("consent", "grant", case, "--scope", "third_party_disclosure")):
            assert cases(*step).code == 0, step
        shown = cases("show", case).json
        assert shown["status"] == "in_review" and shown["review"]["partner"] == "acme"

        # The pack reaches the partner's topic under a pack id, with none of the member's identifiers.
        [raw] = eventually("the review request on the partner's topic", lambda: read_all(bootstrap, REQUESTS))
        requested = json.loads(raw.value)
        assert requested["type"] == "review_requested" and raw.key.decode() == requested["pack_id"]
        assert requested["pack_id"] != case and case.encode() not in raw.value
        assert requested["respond_by"] == shown["review"]["referral"]["respond_by"]
        for identifier in IDENTIFIERS:
            assert identifier.encode() not in raw.value, identifier

        # The partner answers with kafka-python and JSON only; the case gets its opinion.
        answer(bootstrap, {"type": "opinion_given", "schema_version": 1, "message_id": str(uuid4()),
                           "pack_id": requested["pack_id"], "outcome": "confirmed",
                           "summary": "Repair is appropriate", "reviewer": "Dr Acme Expert",
                           "given_at": datetime.now(UTC).isoformat()})
        opinion = eventually("the case's opinion", lambda: cases("show", case).json["opinion"])
        assert (opinion["outcome"], opinion["reviewer"]) == ("confirmed", "Dr Acme Expert")
        delivered = cases("report", "deliver", case)
        assert delivered.code == 0 and delivered.json["status"] == "report_issued"
        replay = cases("replay", case).json
        assert [r["partner"] for r in replay["reidentifications"]] == ["acme"]

        # A bad answer changes nothing but the audit: the dead-letter topic, and the partner is told.
        bad_id = str(uuid4())
        answer(bootstrap, {"type": "opinion_given", "schema_version": 1, "message_id": bad_id,
                           "pack_id": requested["pack_id"], "outcome": "maybe", "summary": "?",
                           "reviewer": "Dr Acme Expert", "given_at": datetime.now(UTC).isoformat()})
        [rejected] = eventually("opinion_rejected on the requests topic",
                                lambda: messages_of(bootstrap, REQUESTS, "opinion_rejected"))
        assert (rejected["reason"], rejected["rejected_message_id"]) == ("invalid", bad_id)
        assert rejected["pack_id"] == requested["pack_id"] and "outcome" in rejected["detail"]
        letters = [m for m in read_all(bootstrap, DEADLETTER_TOPIC)
                   if dict(m.headers).get("dlq_consumer") == b"review-partners"]
        assert len(letters) == 1
        headers = dict(letters[0].headers)
        assert headers["dlq_reason"].decode().startswith("invalid: outcome")
        assert headers["dlq_origin"].decode().startswith(f"{OPINIONS}:")
        after = cases("show", case).json
        assert after["status"] == "report_issued" and after["opinion"]["outcome"] == "confirmed"

        listed = cases("partner", "list").json["partners"]
        assert [(p["partner"], p["open_referrals"]) for p in listed] == [("acme", [])]
