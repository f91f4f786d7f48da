"""Dead letters as people see them: each message a worker parked on the dead-letter topic,
named by a short id, with where it came from, who failed it, why, and how people handled it
since (retried or resolved, as recorded in reporting's log).

The id is the message's offset on `cases.deadletter.v1` (the topic has one partition and
keeps every message for ever, so the offset never changes); were the topic ever given more
partitions, a message on partition P is `P.OFFSET`.

Nothing here shows a message's value: a case message may hold a member's sealed identity,
and a forged one anything at all. Even headers are shown only when they have the shape this
code writes (a known event type, a uuid, a consumer's name, TOPIC:PARTITION:OFFSET).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from events.registry import REGISTRY
from events.topics import DEADLETTER_TOPIC
from services.common.errors import BadInput
from services.reporting.domain.dead_letter import DeadLetterHandling, DeadLetterRef
from services.runtime.application import ServiceApplication

if TYPE_CHECKING:
    from services.runtime.kafka.deadletters import ParkedMessage

#: The event types of reporting's log that say how a dead letter was handled.
HANDLING_TYPES = ("dead_letter_retried", "dead_letter_resolved")
ORIGIN = re.compile(r"^([A-Za-z0-9._-]{1,249}):(\d{1,9}):(\d{1,19})$")
#: A consumer's name as the workers write it: a service, or a companion such as review's
#: partner gateway ("review-partners").
CONSUMER = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
QUOTED = re.compile(r"'([^']*)'")
REASON_MAX = 300


def letter_id(partition: int, offset: int) -> str:
    return str(offset) if partition == 0 else f"{partition}.{offset}"


def parse_letter_id(text: str) -> tuple[int, int]:
    """`OFFSET` (partition 0) or `PARTITION.OFFSET`, as `cases deadletter list` shows it."""
    match = re.fullmatch(r"(?:(\d{1,9})\.)?(\d{1,19})", text.strip())
    if match is None:
        raise BadInput("ID", f"'{text[:40]}' is not a dead letter id (a number, as"
                             " `cases deadletter list` shows it)")
    return int(match.group(1) or 0), int(match.group(2))


@dataclass(frozen=True)
class DeadLetter:
    id: str
    parked_at: datetime
    ref: DeadLetterRef
    reason: str  # as the worker gave it when it parked the message
    message: ParkedMessage


def dead_letters(messages: Iterable[ParkedMessage]) -> list[DeadLetter]:
    return [DeadLetter(letter_id(m.partition, m.offset),
                       datetime.fromtimestamp(m.timestamp_ms / 1000, UTC), ref_of(m),
                       safe_reason(m.header("dlq_reason")), m)
            for m in messages]


def find(letters: Iterable[DeadLetter], text: str) -> DeadLetter:
    partition, offset = parse_letter_id(text)
    wanted = letter_id(partition, offset)
    for letter in letters:
        if letter.id == wanted:
            return letter
    raise BadInput("ID", f"no dead letter {wanted} on {DEADLETTER_TOPIC} (`cases deadletter list`"
                         " shows them)")


def ref_of(message: ParkedMessage) -> DeadLetterRef:
    origin = message.header("dlq_origin") or ""
    consumer = message.header("dlq_consumer") or ""
    event_type = message.header("type")
    return DeadLetterRef(
        dead_letter=f"{DEADLETTER_TOPIC}:{message.partition}:{message.offset}",
        origin=origin if ORIGIN.match(origin) else "unknown",
        consumer=consumer if CONSUMER.match(consumer) else "unknown",
        event_type=event_type if event_type in REGISTRY else None,
        event_id=as_uuid(message.header("event_id")))


def as_uuid(text: str | None) -> UUID | None:
    try:
        return UUID(text) if text else None
    except ValueError:
        return None


def safe_reason(reason: str | None) -> str:
    """The worker's reason, with any quoted text that is not a known event type masked: a
    reason may quote a header, and a forged header can say anything."""
    if not reason:
        return "no reason given"
    masked = QUOTED.sub(lambda m: m.group(0) if m.group(1) in REGISTRY else "'…'", reason)
    return masked if len(masked) <= REASON_MAX else masked[:REASON_MAX - 1] + "…"


def handling(reporting: ServiceApplication) -> dict[UUID, DeadLetterHandling]:
    """How each dead letter was handled, folded from reporting's log, by stream id."""
    found: dict[UUID, DeadLetterHandling] = {}
    for event in reporting.stored_events(HANDLING_TYPES):
        folded = DeadLetterHandling.project(found.get(event.originator_id), [event])
        if folded is not None:
            found[event.originator_id] = folded
    return found


def listing(letters: Iterable[DeadLetter], handled: dict[UUID, DeadLetterHandling]) -> list[dict[str, Any]]:
    return [describe(letter, handled.get(letter.ref.stream_id)) for letter in letters]


def describe(letter: DeadLetter, handled: DeadLetterHandling | None) -> dict[str, Any]:
    ref = letter.ref
    origin = ORIGIN.match(ref.origin)
    last = handled.last_retry if handled is not None else None
    resolution = handled.resolution if handled is not None else None
    reason = last.reason if last is not None and last.outcome == "failed" and last.reason else letter.reason
    return {
        "id": letter.id,
        "parked_at": letter.parked_at.isoformat(),
        "consumer": ref.consumer,
        "origin": {"topic": origin.group(1), "partition": int(origin.group(2)),
                   "offset": int(origin.group(3))} if origin else None,
        "event_type": ref.event_type,
        "event_id": str(ref.event_id) if ref.event_id else None,
        "reason": reason,
        "parked_reason": letter.reason,
        "state": handled.state if handled is not None else "open",
        "retries": handled.retries if handled is not None else 0,
        "last_retry": None if last is None else {
            "at": last.occurred_at.isoformat(), "by": person(last.actor), "outcome": last.outcome,
            "reason": last.reason},
        "resolution": None if resolution is None else {
            "at": resolution.occurred_at.isoformat(), "by": resolution.resolved_by,
            "note": resolution.note},
    }


def person(actor: str) -> str:
    return actor.removeprefix("user:")
