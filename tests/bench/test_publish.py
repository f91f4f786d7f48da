"""B4 and B6 publish their workload on bench topics: every record acknowledged, or an error
(records the broker did not take once vanished without a word, and B4's rebuild then read a
log that was not the stores' one)."""

from __future__ import annotations

import uuid

import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from bench.b4_rebuild import publish
from bench.kafka_raw import KafkaSettings, drop_topics
from tests.kafka_support import kafka_bootstrap, messages_on


def test_publish_says_when_the_broker_did_not_take_every_record() -> None:
    bootstrap = kafka_bootstrap()
    settings = KafkaSettings(bootstrap=bootstrap)
    topic = f"bench-publish-test-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    # The broker refuses any record over 20,000 bytes on this topic; the client (1 MB limit)
    # sends it all the same, so only the acknowledgement can tell.
    admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": "20000"})])
    admin.close()
    try:
        small = [(b"k%d" % i, b"v" * 100, [("h", b"1")]) for i in range(30)]
        assert publish(settings, {"intake": topic}, {"intake": small}) == 30
        assert messages_on(bootstrap, [topic]) == 30

        too_big = [*small[:5], (b"big", b"x" * 50_000, []), *small[5:10]]
        with pytest.raises(RuntimeError, match=r"of 11 records not acknowledged"):
            publish(settings, {"intake": topic}, {"intake": too_big})
    finally:
        drop_topics(settings, [topic])
