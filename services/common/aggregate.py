"""A small event-sourced aggregate base whose events are the published pydantic models."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self, TypeVar
from uuid import UUID, uuid4

from events.envelope import DomainEvent
from services.common.context import Context

E = TypeVar("E", bound=DomainEvent)
A = TypeVar("A", bound="Aggregate")


class Aggregate:
    """State rebuilt by applying its events in order; new events wait in `pending`.

    Subclasses implement `apply(event)` (a pure state change) and keep command methods
    that check rules, then call `record(...)`.
    """

    def __init__(self, aggregate_id: UUID):
        self.id = aggregate_id
        self.version = 0
        self._pending: list[DomainEvent] = []

    def record(self, event_class: type[E], ctx: Context, **fields: Any) -> E:
        event = event_class(
            originator_id=self.id,
            originator_version=self.version + 1,
            event_id=uuid4(),
            occurred_at=ctx.now,
            actor=ctx.actor,
            causation_id=ctx.causation_id,
            correlation_id=ctx.correlation_id,
            **fields,
        )
        self._mutate(event)
        self._pending.append(event)
        return event

    def _mutate(self, event: DomainEvent) -> None:
        self.apply(event)
        self.version = event.originator_version

    def apply(self, event: DomainEvent) -> None:
        raise NotImplementedError

    def collect_events(self) -> list[DomainEvent]:
        pending, self._pending = self._pending, []
        return pending

    @classmethod
    def project(cls, aggregate: Self | None, events: Iterable[DomainEvent]) -> Self | None:
        """Projector function for the eventsourcing repository."""
        for event in events:
            if aggregate is None:
                aggregate = cls(event.originator_id)
            aggregate._mutate(event)
        return aggregate
