"""Base for every service: an eventsourcing process application over our events.

Technology only: which store, how a batch of upstream events is applied exactly once, how
a conflict with a concurrent writer is retried. What a service does lives in the service.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import (
    IntegrityError,
    Mapper,
    Notification,
    OperationalError,
    Tracking,
    Transcoder,
)
from eventsourcing.system import ProcessApplication

from events.envelope import DomainEvent
from services.common.aggregate import Aggregate
from services.common.context import Clock, Context, SystemClock
from services.runtime.mapper import PublishedEventMapper
from services.runtime.stores import is_postgres, placeholder

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")
#: A reaction: (the service, the upstream event, the reaction's context) -> aggregates changed.
Reaction = Callable[[Any, Any, Context], "Sequence[Aggregate] | Aggregate | None"]
#: Extra writes a service makes in the transaction that records its events (reporting's views).
TransactionWrite = Callable[[Any], None]


class StoreBusy(Exception):
    """A concurrent writer kept winning; the command was not recorded."""


def retrying(call: Callable[[], T], attempts: int = 12) -> T:
    """Run `call`, again on a conflict with a concurrent writer (another process recorded
    the same aggregate version or the same upstream position first, or held the lock).
    Each attempt is one transaction, so a failed one recorded nothing."""
    for attempt in range(attempts):
        try:
            return call()
        except (IntegrityError, OperationalError) as error:
            if isinstance(error, OperationalError) and not is_contention(error):
                raise
            if attempt == attempts - 1:
                raise StoreBusy("the store stayed busy with concurrent writers") from None
            time.sleep(random.uniform(0, 0.02 * (attempt + 1)))
    raise AssertionError("unreachable")


def is_contention(error: Exception) -> bool:
    """A lock or serialisation failure that another attempt may not meet (SQLite's busy
    database, PostgreSQL's lock timeout or deadlock), not a broken or read-only store."""
    text = str(error).lower()
    return any(word in text for word in ("locked", "busy", "lock timeout", "deadlock",
                                         "could not serialize", "concurrently", "too many clients",
                                         "connection slots", "couldn't get a connection"))


class ServiceApplication(ProcessApplication[UUID]):
    """One service: its own store, its commands, and its reactions to upstream events.

    `reactions` maps an upstream event class to the method that handles it; `ignores`
    lists the leaders' event types the service deliberately does not react to (a test
    fails when a leader's event type is in neither). A reaction returns the aggregates it
    changed; their new events and the tracking record of the upstream position commit in
    one transaction (`commit`), so each upstream event takes effect exactly once, even
    when the process dies and starts again.
    """

    name = "service"
    pull_section_size = 500
    log_section_size = 500
    reactions: ClassVar[dict[type[DomainEvent], Reaction]] = {}
    ignores: ClassVar[frozenset[type[DomainEvent]]] = frozenset()

    #: The store's recorder: a process recorder that also extends the hash chain (named by
    #: topic, so PostgreSQL's driver loads only for a PostgreSQL store).
    recorder_topics: ClassVar[dict[str, str]] = {
        "sqlite": "services.runtime.chain:ChainedSQLiteProcessRecorder",
        "postgres": "services.runtime.chain_postgres:ChainedPostgresProcessRecorder"}

    def __init__(self, env: dict[str, str], clock: Clock | None = None):
        env = dict(env)
        kind = "postgres" if "postgres" in env.get("PERSISTENCE_MODULE", "") else "sqlite"
        env.setdefault("PROCESS_RECORDER_TOPIC", self.recorder_topics[kind])
        env.setdefault("CREATE_TABLE", "false")  # tables come from `prepare_store`, once
        super().__init__(env)
        self.clock: Clock = clock or SystemClock()
        self._batch: dict[UUID, Aggregate] | None = None
        #: Events this object has recorded (the embedded pump's cue that its head moved).
        self.recorded = 0

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

    # -- the store's schema -----------------------------------------------------------------

    def extra_tables(self) -> list[str]:
        """CREATE statements of tables the service keeps beside its events: the upstream
        events it applied (by event id), and a service's own (reporting's views)."""
        return [f"CREATE TABLE IF NOT EXISTS {self.applied_table()} (event_id TEXT PRIMARY KEY)"]

    def applied_table(self) -> str:
        datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        if is_postgres(datastore):
            return f"{datastore.schema}.{self.name}_applied_events"
        return "applied_events"

    def position_and_applied(self, leader: str, events: Sequence[DomainEvent]) -> tuple[int, set[str]]:
        """How far this service has processed `leader`'s sequence, and which of these
        upstream events it applied before (by event id): one read transaction (each was its
        own, and a pipeline's reads outnumber its writes about eight to one: bench B7)."""
        datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        ids = [str(e.event_id) for e in events]
        param = placeholder(datastore)
        found: set[str] = set()
        with datastore.transaction(commit=False) as c:
            # The recorder's own statement, on this transaction's cursor.
            done = self.recorder._max_tracking_id(leader, c) or 0  # type: ignore[attr-defined]
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                c.execute(f"SELECT event_id FROM {self.applied_table()} WHERE event_id IN"
                          f" ({', '.join([param] * len(chunk))})", chunk)
                found.update(row["event_id"] for row in c.fetchall())
        return done, found

    # -- writing ----------------------------------------------------------------------------

    def transaction_writes(self, upstream: Sequence[DomainEvent],
                           recorded: Sequence[DomainEvent]) -> TransactionWrite | None:
        """Writes to make in the transaction that records `recorded` (in reaction to
        `upstream`); reporting updates its views here. None: nothing more."""
        return None

    def commit(self, recorded: Sequence[DomainEvent], tracking: Tracking | None = None,
               upstream: Sequence[DomainEvent] = ()) -> None:
        """Record new events, the upstream position they answer (if any) and the service's
        own extra writes, all in one transaction."""
        if not recorded and tracking is None:
            return
        write = self.transaction_writes(upstream, recorded)
        applied = [str(e.event_id) for e in upstream]
        table = self.applied_table()
        datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        param = placeholder(datastore)

        def in_transaction(cursor: Any) -> None:
            # Each upstream event once, whatever position it came at: a repeat (a relay's
            # re-send at a new offset, a concurrent pump) hits the key and rolls back all.
            for event_id in applied:
                cursor.execute(f"INSERT INTO {table} VALUES ({param})", (event_id,))
            if write is not None:
                write(cursor)

        self.events.put(list(recorded), tracking=tracking, in_transaction=in_transaction)
        self.recorded += len(recorded)

    def save(self, *aggregates: Any, **_: Any) -> list[Any]:
        """A command's changes: every pending event of the given aggregates, one transaction."""
        self.commit([event for aggregate in aggregates if aggregate is not None
                     for event in aggregate.collect_events()])
        return []

    # -- reading ----------------------------------------------------------------------------

    def notification_sections(self, topics: Sequence[str] = (), size: int = 1000) -> Iterator[Sequence[Notification]]:
        """This service's whole notification log, from the start, a section at a time."""
        start = 1
        while section := self.recorder.select_notifications(start=start, limit=size, topics=topics):
            yield section
            start = section[-1].id + 1

    def stored_events(self, topics: Sequence[str] = ()) -> Iterator[DomainEvent]:
        """Every event this service stored, in notification order."""
        for section in self.notification_sections(topics):
            yield from (self.decode(n) for n in section)

    def decode(self, stored: Any) -> DomainEvent:
        """A stored row (or notification) as the published event it holds."""
        # Our mapper (PublishedEventMapper) only ever makes the published pydantic events.
        return cast(DomainEvent, self.mapper.to_domain_event(stored))

    def load(self, cls: type[A], aggregate_id: UUID) -> A | None:
        """The aggregate as stored, or as changed earlier in the batch being applied."""
        if self._batch is not None and aggregate_id in self._batch:
            return self._batch[aggregate_id]  # type: ignore[return-value]
        try:
            return self.repository.get(aggregate_id, projector_func=cls.project)
        except AggregateNotFoundError:
            return None

    # -- reacting ---------------------------------------------------------------------------

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

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.process_events([(domain_event, tracking)])

    def process_events(self, jobs: Sequence[tuple[Any, Tracking]]) -> int:
        """Apply a run of upstream events from ONE upstream sequence (a leader's log, or one
        partition of its topic) in a single transaction, with one tracking record: the last
        position. Positions at or below what is already tracked are skipped (a redelivery),
        and so is an event applied before under any position (a relay's re-send, by event
        id), so the effect stays exactly once. Returns how many were applied. A concurrent
        writer that got there first makes this raise IntegrityError with nothing recorded;
        the caller pulls again."""
        if not jobs:
            return 0
        with self.processing_lock:
            done, seen = self.position_and_applied(jobs[0][1].application_name, [event for event, _ in jobs])
            fresh, last = [], None
            for event, tracking in jobs:
                if tracking.notification_id <= done:
                    continue
                done, last = tracking.notification_id, tracking
                if str(event.event_id) not in seen:
                    seen.add(str(event.event_id))
                    fresh.append((event, tracking))
            if last is None:
                return 0
            if not fresh:  # only repeats: move the position on, change nothing else
                self.commit([], tracking=last)
                return 0
            changed: dict[UUID, Aggregate] = {}
            recorded: list[DomainEvent] = []
            self._batch = changed  # later reactions in the run load these, not the store
            try:
                for event, _ in fresh:
                    for aggregate in self.react(event):
                        changed[aggregate.id] = aggregate
                        recorded.extend(aggregate.collect_events())
            finally:
                self._batch = None
            self.commit(recorded, tracking=last, upstream=[event for event, _ in fresh])
            return len(fresh)

    def react(self, event: DomainEvent) -> list[Aggregate]:
        """The aggregates the service's reaction to `event` changed (none if it has none)."""
        reaction = self.reactions.get(type(event))
        if reaction is None:
            return []
        result = reaction(self, event, self.reaction_context(event))
        if result is None:
            return []
        return [result] if isinstance(result, Aggregate) else list(result)

    def pull_and_process(self, leader_name: str, start: int | None = None, stop: int | None = None) -> None:
        """Like the library's, but each pulled section is applied in one transaction, and a
        section shorter than a full one ends the pull (the library reads on until a section
        comes back empty: a second read for every pull that found anything)."""
        if start is None:
            start = self.recorder.max_tracking_id(leader_name)
        log, size = self.readers[leader_name].notification_log, self.pull_section_size
        while True:
            notifications = log.select(start=start, stop=stop, limit=size, topics=self.topics,
                                       inclusive_of_start=False)
            if not notifications:
                return
            jobs = self.convert_notifications(leader_name, self.filter_received_notifications(notifications))
            if jobs:
                self.process_events(jobs)
            if len(notifications) < size:
                return
            start = notifications[-1].id

    # -- hooks for the runtime --------------------------------------------------------------

    def on_timer(self, now: datetime) -> int:
        """Periodic work (review's SLA clock). Returns how many things it changed."""
        return 0

    def register_metrics(self, registry: Any) -> None:
        """Add the service's own series to its worker's Prometheus registry."""

    def refresh_metrics(self) -> None:
        """Bring the service's gauges up to date (the worker calls this now and then)."""
