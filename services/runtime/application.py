"""Base for the four services: an eventsourcing process application over our events."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.persistence import Mapper, Notification, Tracking, Transcoder
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

    def notification_sections(self, topics: Sequence[str] = (), size: int = 1000) -> Iterator[Sequence[Notification]]:
        """This service's whole notification log, from the start, a section at a time."""
        start = 1
        while section := self.recorder.select_notifications(start=start, limit=size, topics=topics):
            yield section
            start = section[-1].id + 1

    def stored_events(self, topics: Sequence[str] = ()) -> Iterator[DomainEvent]:
        """Every event this service stored, in notification order."""
        for section in self.notification_sections(topics):
            yield from (self.mapper.to_domain_event(n) for n in section)

    def load(self, cls: type[A], aggregate_id: UUID) -> A | None:
        """The aggregate as stored, or as changed earlier in the batch being applied."""
        batch = self._batch
        if batch is not None and aggregate_id in batch.aggregates:
            return batch.aggregates[aggregate_id]  # type: ignore[return-value]
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

    _batch: ProcessingEvent[UUID] | None = None

    def process_events(self, jobs: Sequence[tuple[Any, Tracking]]) -> int:
        """Apply a run of upstream events from ONE upstream sequence (a leader's log, or one
        partition of its topic) in a single transaction, with one tracking record: the last
        position. Positions at or below what is already tracked, or repeated within the run
        (a relay's re-send), are skipped, so the effect stays exactly once. Returns how many
        were applied."""
        if not jobs:
            return 0
        with self.processing_lock:
            done = self.recorder.max_tracking_id(jobs[0][1].application_name) or 0
            fresh = []
            for event, tracking in jobs:
                if tracking.notification_id > done:
                    fresh.append((event, tracking))
                    done = tracking.notification_id
            if not fresh:
                return 0
            processing = ProcessingEvent[UUID](tracking=fresh[-1][1])
            self._batch = processing
            try:
                for event, _ in fresh:
                    self.policy(event, processing)
            finally:
                self._batch = None
            recordings = self._record(processing)
            self._take_snapshots(processing)
            self._notify(recordings)
            return len(fresh)

    def pull_and_process(self, leader_name: str, start: int | None = None, stop: int | None = None) -> None:
        """Like the library's, but each pulled section is applied in one transaction."""
        if start is None:
            start = self.recorder.max_tracking_id(leader_name)
        for notifications in self.pull_notifications(leader_name, start=start, stop=stop,
                                                     inclusive_of_start=False):
            jobs = self.convert_notifications(leader_name, self.filter_received_notifications(notifications))
            if jobs:
                self.process_events(jobs)

    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        method = self.reactions.get(type(domain_event))
        if method is not None:
            getattr(self, method)(domain_event, processing_event, self.reaction_context(domain_event))
