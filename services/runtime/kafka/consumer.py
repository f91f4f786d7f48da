"""A service consuming its upstream topics with exactly-once effect.

Each message is decoded and handed to the service's reactions together with a tracking
record (the upstream topic's service and partition, and the partition offset the broker
gave it) that commits in the same transaction as whatever the reaction records, with the
event's id in the service's applied-events table. A redelivered offset is skipped by the
tracking record; the same event at a new offset (a relay's re-send) by its id. Nothing a
producer writes in a header decides what is skipped: offsets come from the broker. Kafka's
committed offsets are only a hint for where to resume.

A message that cannot be decoded, names an unknown type or a newer schema version than
this code reads, whose `type` or `event_id` header disagrees with its payload, or that
makes a reaction fail goes to the dead-letter topic with a reason a person can act on (the
field and the problem, never the data), and the worker goes on.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from events.codec import decode, why_unreadable
from events.topics import DEADLETTER_TOPIC, case_topic
from services.common.errors import Refused
from services.runtime.application import ServiceApplication
from services.runtime.kafka.config import SERVICE_PRINCIPALS, KafkaSettings
from services.runtime.metrics import WorkerMetrics

log = logging.getLogger("cases.consumer")


def group_id(service: str) -> str:
    return f"cases-{service}"


def wait_for_partitions(consumer: KafkaConsumer, topics: list[str], timeout: float = 60.0) -> None:
    """Join the group only once the topics' partitions are known: a member that joins
    without them is given nothing, and kafka-python may not ask again."""
    deadline = time.monotonic() + timeout
    while any(not consumer.partitions_for_topic(t) for t in topics):
        if time.monotonic() > deadline:
            raise RuntimeError(f"topics not found: {topics}")
        time.sleep(0.2)


class Redelivered(Exception):
    """The message's effect is already stored."""


def all_partitions(consumer: KafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    return [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]


class ServiceConsumer:
    def __init__(self, app: ServiceApplication, leaders: Iterable[str], settings: KafkaSettings,
                 producer: KafkaProducer, instance: int = 0, instances: int = 1,
                 metrics: WorkerMetrics | None = None):
        self.app = app
        self.metrics = metrics if metrics is not None else WorkerMetrics(app.name)
        self.topics = [case_topic(leader) for leader in leaders]
        self.service_of_topic = {case_topic(leader): leader for leader in leaders}
        self.producer = producer
        self.interests = set(app.topics)  # the event types this service reacts to
        self.consumer = KafkaConsumer(
            **settings.client_config(SERVICE_PRINCIPALS[app.name]),
            group_id=group_id(app.name),
            client_id=f"cases-{app.name}",
            enable_auto_commit=False,  # offsets are committed after the effects are stored
            auto_offset_reset="earliest",
            max_poll_records=500,
            fetch_max_wait_ms=20,
        )
        self.applied = 0
        self.dead_letters = 0
        wait_for_partitions(self.consumer, self.topics)
        # Partitions are assigned by instance number rather than by group rebalancing:
        # kafka-python 3.0 can stall in a rebalance after a metadata change, and a
        # stalled consumer is worse than a fixed split. Offsets are still committed
        # under the service's group, so lag is visible to the usual tools.
        self.consumer.assign([
            tp for tp in all_partitions(self.consumer, self.topics)
            if tp.partition % instances == instance
        ])

    def poll_once(self, timeout_ms: int = 50) -> int:
        batches = self.consumer.poll(timeout_ms=timeout_ms)
        handled = 0
        for messages in batches.values():
            self.handle_batch(messages)
            handled += len(messages)
        if handled:
            self.commit()
        return handled

    def handle_batch(self, messages: list[Any]) -> None:
        """One partition's messages, applied in one transaction with one tracking record
        (durable commits are the cost that matters). If anything in the batch fails, it is
        applied again message by message, so only the poison message is dead-lettered."""
        jobs = [job for job in (self.parse(m) for m in messages) if job is not None]
        if not jobs:
            return
        started = time.perf_counter()
        try:
            applied = self.app.process_events([(event, tracking) for _, event, tracking in jobs])
        except Exception:  # noqa: BLE001 - retried one by one below, which reports the cause
            log.info("a batch of %d failed; applying its messages one by one", len(jobs))
            for message, event, tracking in jobs:
                self.apply(message, event, tracking)
            return
        self.applied += applied
        each = (time.perf_counter() - started) / len(jobs)
        # Repeats (redeliveries, re-sends) are counted apart from what was processed; the
        # batch does not say which were which, so the processed types are its newest ones.
        repeats = len(jobs) - applied
        for _ in range(repeats):
            self.metrics.event_redelivered(each)
        for _, event, _ in jobs[repeats:]:
            self.metrics.event_processed(event, each)

    def commit(self) -> None:
        """Offsets are only a hint: if a rebalance gets in the way, the next poll finishes
        it and a later commit covers these messages; a redelivery changes nothing."""
        try:
            self.consumer.commit()
        except KafkaError as error:
            log.info("offset commit deferred: %s", type(error).__name__)

    def handle(self, message: Any) -> None:
        job = self.parse(message)
        if job is not None:
            self.apply(*job)

    def parse(self, message: Any) -> tuple[Any, Any, Tracking] | None:
        """The message's event and its tracking record, or None when it is dead-lettered
        or of no interest to this service."""
        headers = {k: v.decode(errors="replace") for k, v in (message.headers or [])}
        if "type" not in headers or "event_id" not in headers:
            self.dead_letter(message, "missing header: every case message carries type and event_id")
            return None
        try:
            event = decode(message.value)
        except Exception as error:  # noqa: BLE001 - undecodable bytes or unknown type: park it, go on
            self.dead_letter(message, f"undecodable: {why_unreadable(error)}")
            return None
        if headers["type"] != event.type_name:
            self.dead_letter(message, f"header mismatch: the type header says {headers['type']!r},"
                                      f" the payload is {event.type_name!r}")
            return None
        if headers["event_id"] != str(event.event_id):
            self.dead_letter(message, "header mismatch: the event_id header is not the payload's event id")
            return None
        if self.interests and event.type_name not in self.interests:
            return None
        source = self.service_of_topic.get(message.topic, message.topic)
        # The broker's offset, not a header a producer could set: offset 0 is position 1.
        return message, event, Tracking(f"{source}.{message.partition}", message.offset + 1)

    def apply(self, message: Any, event: Any, tracking: Tracking) -> None:
        started = time.perf_counter()
        try:
            applied = self.process_with_retries(event, tracking)
        except Redelivered:  # seen before: its effect is already stored
            self.metrics.event_redelivered(time.perf_counter() - started)
        except Exception as error:  # noqa: BLE001 - a poison message must not stop the worker
            log.warning("reaction to %s failed: %s", event.type_name, type(error).__name__)
            reason = (f"refused: {error.code}" if isinstance(error, Refused)
                      else "an unexpected error in the reaction (the worker's log names it)")
            self.dead_letter(message, f"reaction failed: {event.type_name}: {reason}")
            self._mark_handled(tracking)
        else:
            if applied:
                self.applied += 1
                self.metrics.event_processed(event, time.perf_counter() - started)
            else:
                self.metrics.event_redelivered(time.perf_counter() - started)

    def process_with_retries(self, event: Any, tracking: Tracking, attempts: int = 5) -> int:
        """An IntegrityError means either "seen before" (the tracking row) or that a command
        changed the same aggregate meanwhile (its version); the second is retried. Returns
        1 when applied, 0 when it was a repeat."""
        for attempt in range(attempts):
            try:
                return self.app.process_events([(event, tracking)])
            except IntegrityError:
                if (self.app.recorder.max_tracking_id(tracking.application_name) or 0) >= tracking.notification_id:
                    raise Redelivered() from None
                if attempt == attempts - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))
        return 0

    def _mark_handled(self, tracking: Tracking) -> None:
        with contextlib.suppress(IntegrityError):
            self.app.recorder.insert_tracking(tracking)

    def dead_letter(self, message: Any, reason: str) -> None:
        self.dead_letters += 1
        self.metrics.dead_lettered(reason)
        log.warning("dead letter from %s[%s]@%s: %s", message.topic, message.partition,
                    message.offset, reason)
        headers = [*list(message.headers or []), ("dlq_reason", reason.encode()), ("dlq_consumer", self.app.name.encode()), ("dlq_origin", f"{message.topic}:{message.partition}:{message.offset}".encode())]
        self.producer.send(DEADLETTER_TOPIC, key=message.key, value=message.value, headers=headers)
        self.producer.flush()

    def lag(self) -> dict[tuple[str, int], int]:
        """Per assigned partition: the end offset minus this consumer's position. Asks the
        broker, so the worker calls it only every few seconds."""
        assigned = sorted(self.consumer.assignment())
        ends = self.consumer.end_offsets(assigned, timeout_ms=2000)
        lags: dict[tuple[str, int], int] = {}
        for tp in assigned:
            position = self.consumer.position(tp, timeout_ms=2000)
            if position is not None and ends.get(tp) is not None:
                lags[(tp.topic, tp.partition)] = max(0, ends[tp] - position)
        return lags

    def close(self) -> None:
        self.consumer.close()
