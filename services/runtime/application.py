"""Base for the four services: an eventsourcing process application over our events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.persistence import Mapper, Transcoder
from eventsourcing.system import ProcessApplication
from eventsourcing.utils import get_topic

from events.envelope import DomainEvent
from services.common.aggregate import Aggregate
from services.common.context import Clock, Context, SystemClock
from services.runtime.chain import ChainedPostgresProcessRecorder, ChainedSQLiteProcessRecorder
from services.runtime.mapper import PublishedEventMapper

A = TypeVar("A", bound=Aggregate)
Reaction = Callable[[Any, Any, ProcessingEvent[Any], Context], None]


class ServiceApplication(ProcessApplication[UUID]):
    """One service: its own store, its commands, and its reactions to upstream events.

    Reactions are declared in `reactions` (event class -> method). A reaction collects
    the aggregates it changed on the processing event, so the new events and the
    tracking record of the upstream position commit in one transaction: each upstream
    event takes effect exactly once, even when the process dies and starts again.
    """

    name = "service"
    pull_section_size = 500
    log_section_size = 500
    reactions: ClassVar[dict[type[DomainEvent], str]] = {}

    #: The store's recorder: a process recorder that also extends the hash chain.
    recorder_classes: ClassVar[dict[str, type]] = {
        "sqlite": ChainedSQLiteProcessRecorder, "postgres": ChainedPostgresProcessRecorder}

    def __init__(self, env: dict[str, str] | None = None, clock: Clock | None = None):
        env = dict(env or {})
        kind = "postgres" if "postgres" in env.get("PERSISTENCE_MODULE", "") else "sqlite"
        env.setdefault("PROCESS_RECORDER_TOPIC", get_topic(self.recorder_classes[kind]))
        super().__init__(env)
        self.clock: Clock = clock or SystemClock()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.topics = tuple(sorted(event.type_name for event in cls.reactions))

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=PublishedEventMapper
        )

    def construct_transcoder(self) -> Transcoder:
        # The mapper writes JSON itself (events/codec.py); the library's transcoder is unused.
        from eventsourcing.persistence import JSONTranscoder

        return JSONTranscoder()

    def load(self, cls: type[A], aggregate_id: UUID) -> A | None:
        try:
            return self.repository.get(aggregate_id, projector_func=cls.project)  # type: ignore[return-value]
        except AggregateNotFoundError:
            return None

    def reaction_context(self, event: DomainEvent) -> Context:
        """A reaction is stamped with its cause's moment plus a microsecond: in business
        terms it happens when its cause did, it sorts right after it, and its time does
        not depend on how late a worker processed it (the store keeps that)."""
        return Context(
            actor=f"service:{self.name}",
            now=event.occurred_at + timedelta(microseconds=1),
            correlation_id=event.correlation_id or event.event_id,
            causation_id=event.event_id,
        )

    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        method = self.reactions.get(type(domain_event))
        if method is not None:
            getattr(self, method)(domain_event, processing_event, self.reaction_context(domain_event))
