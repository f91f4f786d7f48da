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
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException
from confluent_kafka import TopicPartition as Partition
from eventsourcing.persistence import IntegrityError, Tracking
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from events.codec import decode, why_unreadable
from events.topics import DEADLETTER_TOPIC, case_topic
from services.common.errors import Refused
from services.runtime.application import ServiceApplication
from services.runtime.kafka.config import FLUSH_TIMEOUT, SERVICE_PRINCIPALS, KafkaSettings
from services.runtime.metrics import WorkerMetrics

log = logging.getLogger("cases.consumer")

#: A commit the broker has not answered within this long is sent again (it was lost with
#: a connection, say); meanwhile the offsets it carries stay owed.
COMMIT_PATIENCE = 30.0
#: How long the lag gauge waits for each answer from the broker (it is skipped if none).
LAG_TIMEOUT = 2.0
#: How long a partition this member holds may sit behind its end, its group offset not
#: moving, before the worker gives up on this consumer and joins the group afresh
#: (`stalled`); CASES_CONSUMER_STALL_SECONDS overrides it.
STALL_SECONDS = 30.0


def group_id(service: str) -> str:
    return f"cases-{service}"


def wait_for_partitions(consumer: KafkaConsumer, topics: list[str], timeout: float = 60.0) -> None:
    """Wait until the topics' partitions are known (kafka-python readers)."""
    deadline = time.monotonic() + timeout
    while any(not consumer.partitions_for_topic(t) for t in topics):
        if time.monotonic() > deadline:
            raise RuntimeError(f"topics not found: {topics}")
        time.sleep(0.2)


class Redelivered(Exception):
    """The message's effect is already stored."""


def all_partitions(consumer: KafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    return [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]


def librdkafka_config(settings: KafkaSettings, principal: str) -> dict[str, Any]:
    """`settings.client_config` (kafka-python's names) in librdkafka's names."""
    names = {"bootstrap_servers": "bootstrap.servers", "security_protocol": "security.protocol",
             "sasl_mechanism": "sasl.mechanism", "sasl_plain_username": "sasl.username",
             "sasl_plain_password": "sasl.password"}
    return {names[k]: v for k, v in settings.client_config(principal).items() if k in names}


@dataclass(frozen=True)
class Delivered:
    """A message as the broker delivered it (the attributes kafka-python's records have)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    @classmethod
    def of(cls, message: Any) -> Delivered:
        return cls(message.topic(), message.partition(), message.offset(), message.key(),
                   message.value(), list(message.headers() or []))


class ServiceConsumer:
    """One member of the service's consumer group (`cases-<service>`), on the new consumer
    group protocol (KIP-848, confluent-kafka; bench/consumer-groups.md says why): the broker
    shares the partitions among the running instances and moves a dead or paused one's to
    the others within its session timeout. A partition given to this instance resumes from
    the position stored in the service's store (the truth: it commits with the effects) or
    the group's committed offset, whichever is further; the effects are exactly once
    either way, because the store refuses a position or an event id it already holds."""

    def __init__(self, app: ServiceApplication, leaders: Iterable[str], settings: KafkaSettings | str,
                 producer: KafkaProducer, metrics: WorkerMetrics | None = None, *,
                 group: str | None = None, topic_of: Callable[[str], str] = case_topic):
        if isinstance(settings, str):
            settings = KafkaSettings(settings.split(","))
        self.app = app
        self.metrics = metrics if metrics is not None else WorkerMetrics(app.name)
        self.topics = [topic_of(leader) for leader in leaders]
        self.service_of_topic = {topic_of(leader): leader for leader in leaders}
        self.producer = producer
        self.interests = set(app.topics)  # the event types this service reacts to
        self.group = group or group_id(app.name)
        self.consumer = Consumer({
            **librdkafka_config(settings, SERVICE_PRINCIPALS.get(app.name, app.name)),
            "group.id": self.group,
            "group.protocol": "consumer",  # KIP-848: the broker assigns, incrementally
            "client.id": f"cases-{app.name}",
            "enable.auto.commit": False,  # offsets are committed after the effects are stored
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 20,
            "on_commit": self.on_commit,
            "logger": logging.getLogger("cases.consumer.librdkafka"),
        })
        self.applied = 0
        self.dead_letters = 0
        self.assignments = 0  # how many times the broker gave this member partitions
        self.uncommitted: dict[tuple[str, int], int] = {}  # handled, not yet committed
        #: When the commit in flight was sent (None: none is); see commit().
        self.committing: float | None = None
        #: Per partition held and behind: the group offset last seen, and since when (stalled()).
        self.behind: dict[tuple[str, int], tuple[int, float]] = {}
        self.stall_seconds = float(os.environ.get("CASES_CONSUMER_STALL_SECONDS") or STALL_SECONDS)
        self.consumer.subscribe(self.topics, on_assign=self.on_assign, on_revoke=self.on_revoke,
                                on_lost=self.on_revoke)

    def on_assign(self, consumer: Consumer, partitions: list[Any]) -> None:
        """Start each new partition where the store (or the group) says it was left."""
        try:
            committed = {(tp.topic, tp.partition): tp.offset
                         for tp in consumer.committed(partitions, timeout=10)}
        except KafkaException as error:
            log.info("committed offsets not read (%s): resuming from the store", error.args[0].name())
            committed = {}
        for tp in partitions:
            source = self.service_of_topic.get(tp.topic, tp.topic)
            stored = self.app.recorder.max_tracking_id(f"{source}.{tp.partition}") or 0
            start = max(stored, committed.get((tp.topic, tp.partition), -1))
            tp.offset = start if start > 0 else OFFSET_BEGINNING
        consumer.incremental_assign(partitions)
        if os.environ.get("CASES_FAULT") == "stall_consumer":
            # A test's fault, once a process: the client stops fetching, silently, as
            # librdkafka's consumer was seen to after a broker outage (see stalled()).
            del os.environ["CASES_FAULT"]
            consumer.pause(partitions)
        self.assignments += 1
        log.info("%s assigned %s", self.app.name, sorted(f"{tp.topic}[{tp.partition}]@{tp.offset}"
                                                         for tp in partitions))

    def on_revoke(self, consumer: Consumer, partitions: list[Any]) -> None:
        for tp in partitions:
            self.uncommitted.pop((tp.topic, tp.partition), None)
        log.info("%s released %s", self.app.name, sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions))

    def assignment(self) -> list[tuple[str, int]]:
        return sorted((tp.topic, tp.partition) for tp in self.consumer.assignment())

    def poll_once(self, timeout_ms: int = 50) -> int:
        """Handle what the broker has for this member now: each partition's run of messages
        in one transaction, then commit the offsets of what was handled."""
        messages = self.consumer.consume(num_messages=500, timeout=timeout_ms / 1000)
        batches: dict[tuple[str, int], list[Delivered]] = {}
        for message in messages:
            error = message.error()
            if error is not None:  # the client retries by itself; say so without data
                log.info("consumer: %s", error.name())
                continue
            delivered = Delivered.of(message)
            batches.setdefault((delivered.topic, delivered.partition), []).append(delivered)
        handled: dict[tuple[str, int], int] = {}
        try:
            for key, batch in batches.items():
                self.handle_batch(batch)
                handled[key] = batch[-1].offset + 1
        except Exception:
            # A step failed (a dead letter the broker did not take, say): go back to the
            # first message not handled, so nothing is passed over when the worker retries.
            for key, batch in batches.items():
                if key not in handled:
                    with contextlib.suppress(KafkaException):
                        self.consumer.seek(Partition(*key, batch[0].offset))
            raise
        finally:
            self.uncommitted.update(handled)
            if self.uncommitted:
                self.commit()
        return sum(len(batches[key]) for key in handled)

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
        """Commit the offsets of what was handled, without waiting: librdkafka defers a
        commit while the group has no coordinator (the broker is away), and a synchronous
        one would hold the worker, and the commands it serves, for the whole outage. The
        offsets stay in `uncommitted` until the broker confirms them (on_commit, served by
        the next poll); one commit is in flight at a time. The command line's settle check
        reads them. A partition that moved to another instance drops its own; the store
        holds the real position, and a redelivery changes nothing."""
        now = time.monotonic()
        if self.committing is not None and now - self.committing < COMMIT_PATIENCE:
            return
        offsets = [Partition(t, p, offset) for (t, p), offset in self.uncommitted.items()]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as error:
            log.info("offset commit deferred: %s", error.args[0].name())
            return
        self.committing = now

    def on_commit(self, error: Any, partitions: list[Any]) -> None:
        self.committing = None
        if error is not None:
            log.info("offset commit deferred: %s", error.name())
            return
        for tp in partitions:
            key = (tp.topic, tp.partition)
            if tp.error is None and self.uncommitted.get(key) == tp.offset:
                del self.uncommitted[key]  # a later offset handled meanwhile is still owed

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
        sent = self.producer.send(DEADLETTER_TOPIC, key=message.key, value=message.value, headers=headers)
        self.producer.flush(timeout=FLUSH_TIMEOUT)
        sent.get(timeout=30)  # raises if the broker did not take it: the message is read again

    def stalled(self) -> list[str]:
        """The partitions that have had messages waiting for `stall_seconds` while the
        group's offset on them did not move: those this member holds, or, when it holds
        none, any of its topics' (one given to no member stays unread too). Why: after a
        broker outage a worker once stopped consuming a partition for good (CI: intake
        did not consume cases.reporting.v1[0] in seven minutes, while its process ran; the
        cause was not found), and nothing in the client reports such a state. Asks the
        broker (and raises its errors: a broker that is away is not a stall), so the
        worker calls it only every few seconds."""
        try:
            watched = [Partition(t, p) for t, p in self.assignment()] or self.partitions()
            committed = self.consumer.committed(watched, timeout=LAG_TIMEOUT) if watched else []
            ends = self.end_offsets(committed)
        except KafkaException:
            self.behind = {}  # the count starts again once the broker answers
            raise
        now = time.monotonic()
        behind: dict[tuple[str, int], tuple[int, float]] = {}
        stalled: list[str] = []
        for tp in committed:
            key = (tp.topic, tp.partition)
            if max(0, tp.offset) >= ends.get(key, 0):
                continue  # caught up
            seen, since = self.behind.get(key, (tp.offset, now))
            if seen != tp.offset:
                since = now  # it moved: behind, but not stalled
            behind[key] = (tp.offset, since)
            if now - since >= self.stall_seconds:
                stalled.append(f"{tp.topic}[{tp.partition}]")
        self.behind = behind
        return stalled

    def partitions(self) -> list[Any]:
        """Every partition of the topics this service consumes (asks the broker)."""
        metadata = self.consumer.list_topics(timeout=LAG_TIMEOUT)
        return [Partition(topic, p) for topic in self.topics if topic in metadata.topics
                for p in sorted(metadata.topics[topic].partitions)]

    def lag(self) -> dict[tuple[str, int], int]:
        """The group's lag on every partition it consumes, held by this member or another
        (or by none: a dead instance's partitions show their lag until someone takes
        them): the end offset minus this member's position on its own partitions, else
        minus the group's committed offset. Asks the broker, so the worker calls it only
        every few seconds."""
        partitions = self.partitions()
        done = {(tp.topic, tp.partition): tp.offset
                for tp in self.consumer.committed(partitions, timeout=LAG_TIMEOUT)}
        mine = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        if mine:
            for tp in self.consumer.position([Partition(t, p) for t, p in mine]):
                if tp.offset >= 0:
                    done[(tp.topic, tp.partition)] = tp.offset
        ends = self.end_offsets(partitions)
        return {key: max(0, end - max(0, done.get(key, 0))) for key, end in ends.items()}

    def end_offsets(self, partitions: list[Any]) -> dict[tuple[str, int], int]:
        """Each partition's end offset, in one request to the broker (ListOffsets for the
        latest offset). Why not a watermark query per partition: each is a round trip in
        the worker's round, and with nine partitions the stall check held every fifth
        second's round long enough to double bench B2's p99."""
        if not partitions:
            return {}
        latest = [Partition(tp.topic, tp.partition, OFFSET_END) for tp in partitions]
        return {(tp.topic, tp.partition): tp.offset
                for tp in self.consumer.offsets_for_times(latest, timeout=LAG_TIMEOUT)
                if tp.error is None and tp.offset >= 0}

    def close(self) -> None:
        """Leave the group at once, so the other instances take the partitions now rather
        than after the session timeout. Offsets still owed are sent first: librdkafka's close
        waits for the commits in flight, so the group's offsets end where this member did."""
        if self.uncommitted:
            offsets = [Partition(t, p, offset) for (t, p), offset in self.uncommitted.items()]
            with contextlib.suppress(KafkaException):
                self.consumer.commit(offsets=offsets, asynchronous=True)
        self.consumer.close()
