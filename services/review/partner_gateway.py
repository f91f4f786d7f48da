"""Review's partner gateway over Kafka: packs out to each partner's requests topic, its
opinions in. A companion of the review worker (services/runtime/kafka/worker.py).

Out: review's own stored referrals, recalls and rejections become partner messages
(partner_messages.py), sent in notification order, each with `message_id` = the stored
event's id. The position is recorded in review's store only after the broker acknowledged
the batch, so a restart resends at most that batch, which the partner recognises by
`message_id`: exactly-once effect at the partner.

In: every registered partner's opinions topic, assigned by this gateway (no group
rebalancing: the partners come from review's own directory, refreshed every few seconds)
and read from the position recorded in review's store with the message's effect, in one
transaction (review.receive_partner_message): a redelivery changes nothing. A message that
is rejected goes to the dead-letter topic first (at least once), then its rejection is
recorded, which the relay tells the partner as `opinion_rejected`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from eventsourcing.persistence import IntegrityError, Tracking
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from events.topics import DEADLETTER_TOPIC, partner_opinions_topic, partner_requests_topic
from services.common.context import Context
from services.review.application import PartnerVerdict, Review
from services.runtime.kafka.config import FLUSH_TIMEOUT, SERVICE_PRINCIPALS, KafkaSettings
from services.runtime.kafka.consumer import librdkafka_config

log = logging.getLogger("cases.partners")

#: The gateway's consumer group (offsets only: positions that count are in review's store).
GROUP = "cases-review-partners"
#: The name its dead letters carry in `dlq_consumer`.
CONSUMER_NAME = "review-partners"
#: The relay's position in review's store (like the outbox's `outbox:<topic>`).
RELAY_NAME = "partner-relay"
BATCH = 200
REFRESH_SECONDS = 2.0
#: The gateway runs in the review worker's loop, between its commands: every wait on the
#: broker is bounded (kafka-python's own metadata lookups wait as long as the broker is
#: away), and after a failure the gateway rests, doubling up to MAX_BACKOFF.
METADATA_TIMEOUT = 2.0
COMMIT_TIMEOUT_MS = 2_000
MAX_BACKOFF = 30.0
OPINIONS = re.compile(r"^partner\.(?P<name>[a-z0-9][a-z0-9-]*)\.opinions\.v1$")


def partner_of(topic: str) -> str:
    found = OPINIONS.match(topic)
    if found is None:
        raise ValueError(f"not a partner's opinions topic: {topic}")
    return found.group("name")


def tracking_name(topic: str, partition: int) -> str:
    return f"{topic}.{partition}"


class PartnerGateway:
    arrived = None  # its work comes only from topics (worker.Companion)

    def __init__(self, app: Review, settings: KafkaSettings, refresh_seconds: float = REFRESH_SECONDS):
        self.app = app
        config = settings.client_config(SERVICE_PRINCIPALS["review"])
        self.producer = KafkaProducer(client_id="cases-review-partners", acks="all", enable_idempotence=True,
                                      linger_ms=5, max_block_ms=10_000, **config)
        self.consumer = KafkaConsumer(client_id="cases-review-partners", group_id=GROUP,
                                      enable_auto_commit=False, auto_offset_reset="earliest",
                                      max_poll_records=BATCH, fetch_max_wait_ms=20, **config)
        self.metadata = AdminClient(librdkafka_config(settings, SERVICE_PRINCIPALS["review"]))
        #: Each topic's partitions as the broker last told them (refreshed with the assignment).
        self.partitions: dict[str, set[int]] = {}
        self.refresh_seconds = refresh_seconds
        self.next_refresh = 0.0
        self.backoff = 0.0
        self.resume_at = 0.0
        self.assigned: set[TopicPartition] = set()
        self.dead_letters = 0

    # -- the companion ------------------------------------------------------------------------

    def poll_once(self) -> int:
        if time.monotonic() < self.resume_at:
            return 0
        try:
            moved = self.relay() + self.consume()
        except (KafkaError, KafkaException) as error:  # the broker is away: rest, then try again
            self.backoff = min(MAX_BACKOFF, max(1.0, self.backoff * 2))
            self.resume_at = time.monotonic() + self.backoff
            log.warning("partner gateway: %s; trying again in %.0f s", type(error).__name__, self.backoff)
            return 0
        self.backoff = 0.0
        return moved

    def close(self) -> None:
        with contextlib.suppress(KafkaError):
            self.consumer.close()
        with contextlib.suppress(KafkaError):
            self.producer.close()

    # -- out ----------------------------------------------------------------------------------

    def relay(self) -> int:
        recorder = self.app.recorder
        position = recorder.max_tracking_id(RELAY_NAME) or 0
        last, messages = self.app.partner_outbox(position, BATCH)
        if last == position:
            return 0
        futures = []
        for partner, message in messages:
            topic = partner_requests_topic(partner)
            if topic not in self.partitions:  # created since the last look, perhaps
                self.refresh_topics()
            if not self.partitions.get(topic):  # registered without a broker
                log.info("nothing sent to %s: it has no requests topic on this broker", partner)
                continue
            futures.append(self.producer.send(
                topic, key=str(message.pack_id).encode(), value=message.model_dump_json().encode(),
                headers=[("type", message.type.encode()),
                         ("message_id", str(message.message_id).encode())]))
        self.producer.flush(timeout=FLUSH_TIMEOUT)
        for future in futures:
            future.get(timeout=30)  # raises if the broker refused any: the batch is sent again
        recorder.insert_tracking(Tracking(RELAY_NAME, last))
        return len(futures)

    # -- in -----------------------------------------------------------------------------------

    def consume(self) -> int:
        self.refresh_assignment()
        if not self.assigned:
            return 0
        batches = self.consumer.poll(timeout_ms=10)
        handled = 0
        for messages in batches.values():
            for message in messages:
                self.handle(message)
                handled += 1
        if handled:
            with contextlib.suppress(KafkaError):  # offsets are a hint; positions are in the store
                self.consumer.commit(timeout_ms=COMMIT_TIMEOUT_MS)
        return handled

    def refresh_assignment(self) -> None:
        """Read every registered partner's opinions topic, from the position review stored."""
        if time.monotonic() < self.next_refresh:
            return
        self.next_refresh = time.monotonic() + self.refresh_seconds
        self.refresh_topics()
        wanted: set[TopicPartition] = set()
        for partner in self.app.directory().partners:
            topic = partner_opinions_topic(partner)
            wanted |= {TopicPartition(topic, p) for p in self.partitions.get(topic, ())}
        if wanted == self.assigned:
            return
        self.consumer.assign(sorted(wanted))
        for tp in wanted:
            stored = self.app.recorder.max_tracking_id(tracking_name(tp.topic, tp.partition)) or 0
            self.consumer.seek(tp, stored)  # the stored position is the next offset to read
        self.assigned = wanted
        log.info("partner gateway reads %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in wanted))

    def refresh_topics(self) -> None:
        """Ask the broker which topics exist, waiting at most METADATA_TIMEOUT."""
        topics = self.metadata.list_topics(timeout=METADATA_TIMEOUT).topics
        self.partitions = {name: set(t.partitions) for name, t in topics.items() if t.error is None}

    def handle(self, message: Any, attempts: int = 5) -> PartnerVerdict | None:
        partner = partner_of(message.topic)
        tracking = Tracking(tracking_name(message.topic, message.partition), message.offset + 1)
        dead_lettered = False
        for attempt in range(attempts):
            if (self.app.recorder.max_tracking_id(tracking.application_name) or 0) >= tracking.notification_id:
                return None  # redelivered: its effect is stored
            ctx = Context(actor=f"partner:{partner}", now=self.app.clock.now())
            verdict, changed = self.app.judge_partner_message(partner, message.value, ctx)
            if not verdict.accepted and not dead_lettered:
                self.dead_letter(message, verdict)
                dead_lettered = True
            try:
                self.app.record_verdict(changed, tracking)
                return verdict
            except IntegrityError:  # a command changed the case meanwhile: judge it again
                if attempt == attempts - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))
        return None

    def dead_letter(self, message: Any, verdict: PartnerVerdict) -> None:
        self.dead_letters += 1
        log.warning("dead letter from %s[%s]@%s: %s", message.topic, message.partition, message.offset,
                    verdict.reason)
        headers = [*list(message.headers or []),
                   ("dlq_reason", f"{verdict.reason}: {verdict.detail}".encode()),
                   ("dlq_consumer", CONSUMER_NAME.encode()),
                   ("dlq_origin", f"{message.topic}:{message.partition}:{message.offset}".encode())]
        self.producer.send(DEADLETTER_TOPIC, key=message.key, value=message.value, headers=headers)
        self.producer.flush(timeout=FLUSH_TIMEOUT)
