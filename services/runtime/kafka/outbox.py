"""Outbox relay: every event a service stored goes to its topic, in notification order.

The relay reads the service's own notification log from the position it last
confirmed, produces each event keyed by its aggregate (the case id for case events) with
headers, waits for the broker's acknowledgement, then records the new position in the
service's own store. A relay that dies resumes from that position: at least once, and
consumers drop the repeats by their tracking records.

Only the instance holding the service's lease (lease.py) relays, so two live instances
never publish the same outbox at once.
"""

from __future__ import annotations

import contextlib
import os

from eventsourcing.persistence import IntegrityError, Tracking
from kafka import KafkaProducer

from events.codec import encode
from events.topics import case_topic
from services.runtime.application import ServiceApplication
from services.runtime.kafka.config import FLUSH_TIMEOUT, KafkaSettings

BATCH = 500


def relay_name(topic: str) -> str:
    return f"outbox:{topic}"


def make_producer(settings: KafkaSettings, principal: str) -> KafkaProducer:
    return KafkaProducer(
        **settings.client_config(principal),
        client_id="cases-outbox",
        acks="all",
        enable_idempotence=True,  # no duplicates or reordering from producer retries
        linger_ms=5,
        batch_size=64 * 1024,
        max_in_flight_requests_per_connection=5,
        # send() waits this long for a topic's metadata (default 60 s): bounded like the
        # flush, so a worker facing a dead broker gets back to its commands (FLUSH_TIMEOUT).
        max_block_ms=5_000,
    )


class OutboxRelay:
    def __init__(self, app: ServiceApplication, producer: KafkaProducer):
        self.app = app
        self.producer = producer
        self.topic = case_topic(app.name)
        self.name = relay_name(self.topic)

    def position(self) -> int:
        return self.app.recorder.max_tracking_id(self.name) or 0

    def backlog(self) -> int:
        return (self.app.recorder.max_notification_id() or 0) - self.position()

    def publish_pending(self) -> int:
        """Publish one batch of what is not yet confirmed; returns how many went out."""
        notifications = self.app.recorder.select_notifications(start=self.position() + 1, limit=BATCH)
        if not notifications:
            return 0
        futures = []
        for n in notifications:
            event = self.app.decode(n)
            headers = [
                ("type", n.topic.encode()),
                ("schema_version", str(event.schema_version).encode()),
                ("event_id", str(event.event_id).encode()),
                ("source_service", self.app.name.encode()),
                ("notification_id", str(n.id).encode()),
            ]
            futures.append(self.producer.send(self.topic, key=str(n.originator_id).encode(),
                                              value=encode(event), headers=headers))
        self.producer.flush(timeout=FLUSH_TIMEOUT)
        for future in futures:
            future.get(timeout=30)  # raises if the broker refused any of them
        if os.environ.get("CASES_FAULT") == "after_ack":
            # Fault tests: die between the broker's acknowledgement and the saved position.
            os._exit(70)
        # IntegrityError: another instance's relay saved this position first (a lease handover).
        with contextlib.suppress(IntegrityError):
            self.app.recorder.insert_tracking(Tracking(self.name, notifications[-1].id))
        return len(notifications)
