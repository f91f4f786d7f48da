"""How people handled one dead letter: retried (handed again to the service that failed it)
or resolved (reviewed, and nothing further is needed). One stream per dead letter, so its
handling is part of reporting's audited, hash-chained log.

A dead letter is named by its place on the dead-letter topic together with the message it
parked and the service that failed it: were the topic ever made again from empty, a new
message at an old offset would not inherit an old resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID, uuid5

from events.envelope import DomainEvent
from events.reporting import DeadLetterOutcome, DeadLetterResolved, DeadLetterRetried
from services.common.aggregate import Aggregate
from services.common.context import Context
from services.common.errors import BadInput, Refused

#: Namespace of the dead letters' stream ids (fixed: the same dead letter, the same stream).
DEAD_LETTERS = UUID("4f0d3c55-2b7e-4a53-9a51-6c1d0b7de1a1")

State = Literal["open", "retried", "resolved"]


@dataclass(frozen=True)
class DeadLetterRef:
    """What is recorded about a dead letter when it is handled: where it is, never its data."""

    dead_letter: str  # cases.deadletter.v1:PARTITION:OFFSET
    origin: str  # TOPIC:PARTITION:OFFSET of the message that failed
    consumer: str  # the service that failed it
    event_type: str | None = None
    event_id: UUID | None = None

    @property
    def stream_id(self) -> UUID:
        return uuid5(DEAD_LETTERS, f"{self.dead_letter}|{self.origin}|{self.consumer}")


class DeadLetterHandling(Aggregate):
    resolution: DeadLetterResolved | None = None
    applied: DeadLetterRetried | None = None  # the retry after which its effect is stored
    last_retry: DeadLetterRetried | None = None
    retries: int = 0

    @property
    def state(self) -> State:
        if self.resolution is not None:
            return "resolved"
        return "retried" if self.applied is not None else "open"

    def may_retry(self) -> None:
        """A resolved dead letter was decided on by a person: it is not handed on again."""
        if self.resolution is not None:
            raise Refused("dead_letter_resolved",
                          f"resolved by {self.resolution.resolved_by} at"
                          f" {self.resolution.occurred_at.isoformat()}: it is not retried")

    def retried(self, ref: DeadLetterRef, outcome: DeadLetterOutcome, reason: str | None,
                ctx: Context) -> None:
        self.may_retry()
        self.record(DeadLetterRetried, ctx, dead_letter=ref.dead_letter, origin=ref.origin,
                    consumer=ref.consumer, event_type=ref.event_type, message_event_id=ref.event_id,
                    outcome=outcome, reason=reason if outcome == "failed" else None)

    def resolve(self, ref: DeadLetterRef, by: str, note: str, ctx: Context) -> None:
        if not note.strip():
            raise BadInput("--note", "must say why nothing further is needed")
        if not by.strip():
            raise BadInput("--by", "must name who reviewed it")
        if self.resolution is not None:
            raise Refused("dead_letter_resolved",
                          f"already resolved by {self.resolution.resolved_by} at"
                          f" {self.resolution.occurred_at.isoformat()}")
        if self.applied is not None:
            raise Refused("dead_letter_retried", "it was retried and its effect is stored: nothing is"
                                                 " left to resolve")
        self.record(DeadLetterResolved, ctx, dead_letter=ref.dead_letter, origin=ref.origin,
                    consumer=ref.consumer, resolved_by=by.strip(), note=note.strip())

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, DeadLetterResolved):
            self.resolution = event
        elif isinstance(event, DeadLetterRetried):
            self.retries += 1
            self.last_retry = event
            if event.outcome != "failed":
                self.applied = event
