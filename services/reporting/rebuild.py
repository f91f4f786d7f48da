"""`cases rebuild`: rebuild reporting's views from the log into fresh tables, compare them
with the live ones, then swap them in.

Embedded, the log is every service's store read from the start; over Kafka it is every
case topic read from offset 0 up to where it ended when the rebuild began. The fresh
views hold the same rows the live ones do (the same statements, the same fold), so a
difference means the live views drifted (a bug, or someone edited them): the command
reports it.

Why it is fast (bench B4): the stores (or partitions) are read side by side and merged by
causal order, so each case's events arrive in the order the fold wants them; each event
is decoded once; each case's state is kept in memory and folded forward, never refolded
from its trail (unless a stream itself is out of order); rows go in with executemany, and
each case's state is written once, at the end. Reading the stores one after another made
every case refold from its whole trail about once per service, decoding each event about
five times.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, cast
from uuid import UUID

import orjson

from events.codec import decode, encode, stored_event_and_wire, why_unreadable
from events.envelope import CaseEvent, DomainEvent
from services.reporting.projections.case_state import SERVICE_ORDER, State, causal_order, fold, fold_forward
from services.reporting.projections.consent_history import consent_row
from services.reporting.views import CaseViews, ViewSql, causal_key, view_sql_for
from services.runtime.application import ServiceApplication
from services.runtime.attached import log_rows, plain_mapper, sqlite_file

BATCH = 500
#: Events per transaction on the fresh tables: a commit (an fsync) per 500 events was a
#: fifth of the rebuild's time; a much longer transaction would hold SQLite's one write
#: lock away from the live reporting worker for seconds.
COMMIT_EVERY = 5000
#: Messages taken per partition per fetch (bounds the merge's memory).
PARTITION_BUFFER = 2000
FETCH_WAIT_MS = 10
Progress = Callable[[int], None]
#: An event with the JSON payload the views store for it (its wire form).
Decoded = tuple[DomainEvent, bytes]
Item = DomainEvent | Decoded


def chunks(items: Iterable[Decoded], size: int = BATCH) -> Iterator[list[Decoded]]:
    batch: list[Decoded] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def grouped(batches: Iterable[Sequence[Item]], events: int) -> Iterator[list[Sequence[Item]]]:
    """Consecutive batches holding about `events` events together (one transaction)."""
    group: list[Sequence[Item]] = []
    size = 0
    for batch in batches:
        group.append(batch)
        size += len(batch)
        if size >= events:
            yield group
            group, size = [], 0
    if group:
        yield group


def by_causal_order(streams: Iterable[Iterable[Decoded]]) -> Iterator[Decoded]:
    """Each stream is (nearly) in causal order already; merge them lazily, keeping it."""
    return heapq.merge(*streams, key=lambda item: causal_order(item[0]))


# -- the stores --------------------------------------------------------------------------

def store_stream(app: ServiceApplication) -> Iterator[Decoded]:
    """One service's log, decoded once: the stored JSON plus the stream position the
    store keeps in its own columns is the event's wire form (events/codec.py). A plain
    SQLite store is read in one statement (one snapshot), without eventsourcing's
    notification objects."""
    found = sqlite_file(app)
    if found is not None:
        for originator, version, state in log_rows(found[0]):
            yield stored_event_and_wire(originator, version, state)
        return
    plain = plain_mapper(app)
    for section in app.notification_sections(size=BATCH):
        for n in section:
            if plain:
                yield stored_event_and_wire(n.originator_id, n.originator_version, n.state)
            else:
                event = app.decode(n)
                yield event, encode(event)


def store_batches(services: Mapping[str, ServiceApplication]) -> Iterator[list[Decoded]]:
    """Every store from the start, merged by causal order, a batch at a time."""
    return chunks(by_causal_order(store_stream(app) for app in services.values()))


# -- the topics --------------------------------------------------------------------------

class PartitionReader:
    """One consumer over many partitions, read as one lazy stream per partition up to the
    end offsets taken when it started. The consumer fetches for one partition at a time,
    the one the merge is waiting for, so the merge holds at most a fetch's worth of each
    partition in memory. (Pausing and resuming partitions on one assignment instead left
    kafka-python 3 waiting for ever on a partition whose fetch it had dropped: B4.)"""

    def __init__(self, consumer: Any, partitions: list[Any]):
        self.consumer = consumer
        self.ends = consumer.end_offsets(partitions) if partitions else {}
        starts = consumer.beginning_offsets(partitions) if partitions else {}
        self.partitions = [tp for tp in partitions if self.ends[tp] > starts[tp]]
        self.next = {tp: starts[tp] for tp in self.partitions}
        self.buffers: dict[Any, deque[Any]] = {tp: deque() for tp in self.partitions}
        self.done: set[Any] = set()

    def messages(self, tp: Any) -> Iterator[Any]:
        buffer = self.buffers[tp]
        while True:
            while buffer:
                yield buffer.popleft()
            if tp in self.done:
                return
            self._fetch_for(tp)

    def _fetch_for(self, wanted: Any) -> None:
        consumer = self.consumer
        consumer.assign([wanted])
        consumer.seek(wanted, self.next[wanted])
        while not self.buffers[wanted] and wanted not in self.done:
            for messages in consumer.poll(timeout_ms=500, max_records=PARTITION_BUFFER).values():
                if messages:
                    self.buffers[wanted].extend(m for m in messages if m.offset < self.ends[wanted])
                    self.next[wanted] = messages[-1].offset + 1
            if self.next[wanted] >= self.ends[wanted]:
                self.done.add(wanted)


def decoded_messages(messages: Iterable[Any], skipped: list[dict[str, Any]] | None) -> Iterator[Decoded]:
    for m in messages:
        try:
            yield decode(m.value), m.value
        except Exception as error:  # noqa: BLE001 - any undecodable message is skipped, and said
            if skipped is not None:
                skipped.append({"topic": m.topic, "partition": m.partition, "offset": m.offset,
                                "reason": why_unreadable(error)})


def topic_batches(bootstrap: str, skipped: list[dict[str, Any]] | None = None,
                  topics: list[str] | None = None) -> Iterator[list[Decoded]]:
    """Every case topic (or `topics`) from offset 0, partitions merged by causal order. A
    message that does not decode (a poison message the workers dead-lettered; topics are
    kept for ever) is skipped and listed in `skipped`."""
    from kafka import KafkaConsumer

    from events.topics import SERVICES, case_topic
    from services.runtime.kafka.config import CLI_PRINCIPAL, KafkaSettings
    from services.runtime.kafka.consumer import all_partitions

    # As cases-cli: on a secured broker, with its SASL credentials.
    client = KafkaSettings(bootstrap.split(",")).client_config(CLI_PRINCIPAL)
    # Every partition is read up to an end offset it had at the start, so the broker has
    # data for each fetch; one that finds none should not wait kafka-python's 500 ms.
    consumer = KafkaConsumer(**client, group_id=None, enable_auto_commit=False,
                             fetch_max_wait_ms=FETCH_WAIT_MS)
    try:
        names = topics if topics is not None else [case_topic(s) for s in SERVICES]
        reader = PartitionReader(consumer, all_partitions(consumer, names))
        yield from chunks(by_causal_order(decoded_messages(reader.messages(tp), skipped)
                                          for tp in reader.partitions))
    finally:
        consumer.close()


# -- the fresh views ---------------------------------------------------------------------

class FreshViews:
    """The views' rows for a rebuild, written to tables only this rebuild uses.

    The same rows `views.update_views` writes: each event once in the trail, each case's
    state the fold of its trail in causal order, a consent row per grant or withdrawal
    with the case's member reference. Folded forward in memory; an event that sorts
    before what its case already had makes that case refold from its trail, as the live
    views do."""

    def __init__(self, sql: ViewSql):
        self.sql = sql
        self.seen: set[UUID] = set()
        #: Each case's state and the last event folded into it (its causal key is written
        #: once, with the state: compared as causal_order tuples meanwhile, which sort the same).
        self.states: dict[str, tuple[State, CaseEvent]] = {}

    def add(self, c: Any, items: Iterable[Item]) -> None:
        rows: list[tuple[Any, ...]] = []
        arrived: dict[str, list[CaseEvent]] = {}
        seen = self.seen
        for item in items:
            event, payload = item if isinstance(item, tuple) else (item, encode(item))
            if not isinstance(event, CaseEvent) or event.event_id in seen:
                continue  # not about a case, or already in the trail (a relay's re-send)
            seen.add(event.event_id)
            case_id = str(event.case_id)
            rows.append((str(event.event_id), case_id, event.occurred_at.isoformat(),
                         SERVICE_ORDER[event.service], event.originator_version, event.type_name,
                         payload))
            arrived.setdefault(case_id, []).append(event)
        if rows:
            c.executemany(self.sql.insert_event, rows)
        consents = []
        for case_id, events in arrived.items():
            events.sort(key=causal_order)
            known = self.states.get(case_id)
            if known is None or causal_order(events[0]) > causal_order(known[1]):
                state, last = fold_forward(known[0] if known else {}, events), events[-1]
            else:  # out of causal order: refold from the trail, this batch's rows included
                c.execute(self.sql.case_payloads, (case_id,))
                trail = sorted((decode(bytes(r["payload"])) for r in c.fetchall()), key=causal_order)
                state, last = fold(trail), cast(CaseEvent, trail[-1])
            self.states[case_id] = (state, last)
            member = state.get("member_ref")
            consents += [row for row in (consent_row(e, member) for e in events) if row is not None]
        if consents:
            c.executemany(self.sql.insert_consent, consents)

    def write_states(self, c: Any) -> None:
        c.executemany(self.sql.upsert_state, [
            (case_id, state["status"], orjson.dumps(state), causal_key(last))
            for case_id, (state, last) in self.states.items()])


def rebuild_views(reporting: ServiceApplication, batches: Iterable[Sequence[Item]],
                  progress: Progress = lambda n: None) -> dict[str, Any]:
    recorder: Any = reporting.recorder
    live: ViewSql = view_sql_for(recorder.datastore)
    fresh = ViewSql(param=live.param, binary=live.binary, schema=live.schema,
                    prefix=f"reporting_rb{int(time.time() * 1000)}_")
    with recorder.datastore.transaction(commit=True) as c:
        for statement in fresh.create:
            c.execute(statement)
    try:
        views, events = FreshViews(fresh), 0
        for group in grouped(batches, COMMIT_EVERY):
            with recorder.datastore.transaction(commit=True) as c:
                for batch in group:
                    views.add(c, batch)
            for batch in group:
                events += len(batch)
                progress(len(batch))
        with recorder.datastore.transaction(commit=True) as c:
            views.write_states(c)
        differences = compare(CaseViews(recorder.datastore, live), CaseViews(recorder.datastore, fresh))
    except BaseException:
        drop(recorder, fresh)  # a failed rebuild leaves nothing behind
        raise
    swap(recorder, live, fresh)
    return {"events": events, "cases": len(views.states),
            "equal_to_live": not differences, "differences": differences[:20]}


def compare(live: CaseViews, fresh: CaseViews) -> list[str]:
    """Cases whose states differ. Both sides store orjson's bytes of the same fold, so
    equal bytes are equal states; only bytes that differ are parsed and compared."""
    old, new = live.stored_states(), fresh.stored_states()
    differences = [f"case {cid}: only in the live views" for cid in old.keys() - new.keys()]
    differences += [f"case {cid}: missing from the live views" for cid in new.keys() - old.keys()]
    differences += [f"case {cid}: state differs" for cid in old.keys() & new.keys()
                    if old[cid] != new[cid] and orjson.loads(old[cid]) != orjson.loads(new[cid])]
    return sorted(differences)


def drop(recorder: Any, fresh: ViewSql) -> None:
    with recorder.datastore.transaction(commit=True) as c:
        for table in fresh.tables:
            c.execute(f"DROP TABLE IF EXISTS {table}")


def swap(recorder: Any, live: ViewSql, fresh: ViewSql) -> None:
    """Replace the live tables by the fresh ones in one transaction: readers see either."""
    with recorder.datastore.transaction(commit=True) as c:
        for old, new in zip(live.tables, fresh.tables, strict=True):
            c.execute(f"DROP TABLE {old}")
            c.execute(f"ALTER TABLE {new} RENAME TO {old.split('.')[-1]}")
