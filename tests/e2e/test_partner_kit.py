"""The partner kit over a real broker: the example partner as its own process (`cases partner
simulate`), first alone on its topics, then answering the services' third-party cases."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from events.asyncapi import EXAMPLES
from events.schema_export import PARTNER_DIR
from events.topics import partner_opinions_topic, partner_requests_topic
from tests.e2e.cli import Cases
from tests.kafka_support import exclusive_bus, kafka_bootstrap


def read_all(bootstrap: str, topic: str, **security: Any) -> list[Any]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=4000, group_id=None, **security)
    try:
        return list(consumer)
    finally:
        consumer.close()


def valid(message: dict[str, Any]) -> bool:
    schema = json.loads((PARTNER_DIR / f"{message['type']}.v1.json").read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).is_valid(message)


def example(name: str, **changes: Any) -> dict[str, Any]:
    return {**json.loads(EXAMPLES[name]().model_dump_json()), "message_id": str(uuid.uuid4()), **changes}


@pytest.fixture
def lone_partner(tmp_path: Path) -> Iterator[tuple[str, str, Cases]]:
    """A partner's two topics on the plain broker, nothing else running."""
    bootstrap = kafka_bootstrap()
    name = f"kit-{uuid.uuid4().hex[:8]}"
    topics = [partner_requests_topic(name), partner_opinions_topic(name)]
    with exclusive_bus():
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cases-tests")
        try:
            admin.create_topics([NewTopic(t, 1, 1) for t in topics])
            yield name, bootstrap, Cases(tmp_path / "home", env={"CASES_BUS": f"kafka://{bootstrap}"})
        finally:
            admin.delete_topics(topics)
            admin.close()


def test_example_partner_answers_its_own_topic_and_survives_garbage(
        lone_partner: tuple[str, str, Cases], tmp_path: Path) -> None:
    name, bootstrap, cases = lone_partner
    pack, other = str(uuid.uuid4()), str(uuid.uuid4())
    request = example("review_requested", pack_id=pack)
    written = [request, request,  # the second is a redelivery: same message_id
               example("review_recalled", pack_id=other),
               example("opinion_rejected", pack_id=other)]
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for message in written:
        producer.send(partner_requests_topic(name), key=message["pack_id"].encode(), value=json.dumps(message).encode())
    for garbage in (b"not json", json.dumps({**request, "nhs_number": "9434765919"}).encode()):
        producer.send(partner_requests_topic(name), key=pack.encode(), value=garbage)
    producer.flush()
    producer.close()
    password = cases.write("partner.secret", "not-used-on-a-plain-broker")

    run = cases("partner", "simulate", name, "--password-file", password, "--once", "--idle", "3")
    assert run.code == 0, run.stderr
    assert run.json == {"partner": name, "answered": 1, "recalled": 1, "rejected": 1, "invalid": 2,
                        "duplicates": 1, "outcomes": {"confirmed": 1}}
    assert "9434765919" not in run.stderr

    answers = read_all(bootstrap, partner_opinions_topic(name))
    sent = [json.loads(m.value) for m in answers]
    assert [(m["type"], m["pack_id"]) for m in sent] == [("recall_acknowledged", other), ("opinion_given", pack)] \
        or [(m["type"], m["pack_id"]) for m in sent] == [("opinion_given", pack), ("recall_acknowledged", other)]
    assert all(valid(m) for m in sent)
    assert all(m.key.decode() == json.loads(m.value)["pack_id"] for m in answers)
    assert next(m for m in sent if m["type"] == "opinion_given")["reviewer"] == "Dr Example Reviewer"

    # Run again: its group committed what it read, so nothing is answered twice.
    again = cases("partner", "simulate", name, "--password-file", password, "--once", "--idle", "3")
    assert again.code == 0 and again.json["answered"] == 0 and again.json["recalled"] == 0
    assert len(read_all(bootstrap, partner_opinions_topic(name))) == 2
