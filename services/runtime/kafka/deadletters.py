"""Reading the dead-letter topic: every message a worker parked there, with its place on
the topic, when it was parked, and its headers. Technology only: what a dead letter says
and how people handled it is reporting's business (services/reporting/dead_letters.py).

The topic is read from offset 0 to where it ended when the read began, with no consumer
group (a read leaves no trace), as the command line's principal.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from eventsourcing.persistence import PersistenceError, Tracking
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from events.codec import decode, why_unreadable
from events.envelope import DomainEvent
from events.topics import DEADLETTER_TOPIC
from services.common.errors import Refused, ServiceUnavailable
from services.runtime.application import ServiceApplication, StoreBusy, retrying
from services.runtime.kafka.bus import reachable
from services.runtime.kafka.config import CLI_PRINCIPAL, KafkaSettings
from services.runtime.kafka.reader import read_to_end

log = logging.getLogger("cases.deadletters")


@dataclass(frozen=True)
class ParkedMessage:
    """One message on the dead-letter topic, as the broker holds it."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str | None:
        found = [v for k, v in self.headers if k == name]
        return found[-1].decode(errors="replace") if found and found[-1] is not None else None

    @property
    def original_headers(self) -> list[tuple[str, bytes]]:
        """The headers the message had on its own topic (without the dlq_ ones)."""
        return [(k, v) for k, v in self.headers if not k.startswith("dlq_")]


def read_dead_letters(settings: KafkaSettings) -> list[ParkedMessage]:
    """Every parked message, in topic order; none if the topic was never made."""
    if not any(reachable(server) for server in settings.bootstrap_servers):
        raise ServiceUnavailable(f"no Kafka broker answers at {settings.bootstrap}")
    try:
        consumer = KafkaConsumer(**settings.client_config(CLI_PRINCIPAL), client_id="cases-cli",
                                 group_id=None, enable_auto_commit=False)
    except KafkaError:
        raise ServiceUnavailable(f"no Kafka broker at {settings.bootstrap}") from None
    try:
        if DEADLETTER_TOPIC not in consumer.topics():  # asking for it by name could create it
            return []
        partitions = [TopicPartition(DEADLETTER_TOPIC, p)
                      for p in sorted(consumer.partitions_for_topic(DEADLETTER_TOPIC) or ())]
        return [ParkedMessage(m.partition, m.offset, m.timestamp, m.key, m.value,
                              tuple((k, v) for k, v in m.headers or []))
                for chunk in read_to_end(consumer, partitions) for m in chunk]
    except KafkaError:
        raise ServiceUnavailable("the broker stopped answering while the dead letters were read") from None
    finally:
        consumer.close()


class StillFailing(Exception):
    """The message failed again; the reason names the field and the problem, never data."""


def checked_event(message: ParkedMessage) -> DomainEvent:
    """The parked message's event, with the checks the consumer makes (ServiceConsumer.parse):
    the type and event_id headers present and agreeing with a payload this code reads."""
    kind, event_id = message.header("type"), message.header("event_id")
    if kind is None or event_id is None:
        raise StillFailing("missing header: every case message carries type and event_id")
    if message.value is None:
        raise StillFailing("undecodable: the message has no value")
    try:
        event = decode(message.value)
    except Exception as error:  # noqa: BLE001 - any unreadable payload is the finding itself
        raise StillFailing(f"undecodable: {why_unreadable(error)}") from None
    if kind != event.type_name:
        raise StillFailing(f"header mismatch: the type header is not the payload's type ({event.type_name!r})")
    if event_id != str(event.event_id):
        raise StillFailing("header mismatch: the event_id header is not the payload's event id")
    return event


def retry_parked(app: ServiceApplication, message: ParkedMessage) -> dict[str, str]:
    """`cases deadletter retry`, run by the service's own worker (the only process that
    writes its store): the outcome, or why it failed again."""
    try:
        return {"outcome": hand_again(app, message)}
    except StillFailing as failing:
        return {"outcome": "failed", "reason": str(failing)}


def hand_again(app: ServiceApplication, message: ParkedMessage) -> str:
    """Apply a parked message through the service that failed it, exactly once.

    Its tracking record is the dead letter's own (`deadletter:PARTITION:OFFSET`), so a
    second retry is a repeat; and the service's applied-events table holds the event's id
    whatever position brought it, so an event the worker applied since (a redelivery) is
    not applied again. Returns applied, already_applied or nothing_to_apply (the service
    does not react to this type, as its worker would have skipped it); raises StillFailing
    when the message or the reaction fails again. Store failures are not the message's: they
    propagate, and nothing was recorded."""
    event = checked_event(message)
    if app.topics and event.type_name not in app.topics:
        return "nothing_to_apply"
    tracking = Tracking(f"deadletter:{message.partition}:{message.offset}", 1)
    try:
        applied = retrying(lambda: app.process_events([(event, tracking)]))
    except (PersistenceError, StoreBusy, OSError):
        raise
    except Refused as refused:
        raise StillFailing(f"reaction failed: {event.type_name}: refused: {refused.code}") from None
    except Exception as error:  # the reaction's own failure is what is reported
        log.warning("retried %s failed again: %s", event.type_name, type(error).__name__,
                    exc_info=bool(os.environ.get("CASES_DEBUG")))  # the cause, for an operator
        raise StillFailing(f"reaction failed: {event.type_name}: an unexpected error in the reaction"
                           " (CASES_DEBUG=1 shows it)") from None
    return "applied" if applied else "already_applied"
