"""`cases rebuild` over Kafka reads every partition of the case topics to its end and
merges them by causal order: on a real broker, with one consumer per partition and with
consumers that take turns over several partitions."""

from __future__ import annotations

import uuid
from collections import defaultdict

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from events.codec import encode
from events.envelope import CaseEvent
from services.bootstrap import SERVICES
from services.reporting import rebuild
from services.reporting.projections.case_state import causal_order
from tests.fixtures import Desk, policy
from tests.kafka_support import kafka_bootstrap


@pytest.fixture
def published(desk: Desk) -> tuple[str, list[str], list[CaseEvent]]:
    """Three cases' events on fresh topics of three partitions each, keyed by case as the
    relays key them."""
    desk.load_policies(policy())
    for _ in range(3):
        case = desk.open()
        desk.to_review(case)
    bootstrap = kafka_bootstrap()
    names = {s: f"test-rebuild-{uuid.uuid4().hex[:8]}-{s}" for s in SERVICES}
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cases-tests")
    admin.create_topics([NewTopic(n, 3, 1) for n in names.values()])
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    events = []
    for service, app in desk.rt.services.items():
        for event in app.stored_events():
            key = str(getattr(event, "case_id", event.originator_id)).encode()
            producer.send(names[service], key=key, value=encode(event))
            events.append(event)
    producer.flush()
    producer.close()
    yield bootstrap, list(names.values()), [e for e in events if isinstance(e, CaseEvent)]
    admin.delete_topics(list(names.values()))
    admin.close()


@pytest.mark.parametrize("readers", [32, 2], ids=["a consumer per partition", "consumers taking turns"])
def test_every_event_once_and_each_case_in_causal_order(published, readers: int,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    bootstrap, topics, stored = published
    monkeypatch.setattr(rebuild, "MAX_READERS", readers)
    read = [event for batch in rebuild.topic_batches(bootstrap, topics=topics) for event, _, _ in batch]
    assert sorted(str(e.event_id) for e in read if isinstance(e, CaseEvent)) == sorted(
        str(e.event_id) for e in stored)
    by_case = defaultdict(list)
    for event in read:
        if isinstance(event, CaseEvent):
            by_case[event.case_id].append(event)
    assert len(by_case) == 3
    for events in by_case.values():
        assert events == sorted(events, key=causal_order)
