"""`cases rebuild`: fold reporting's views afresh from the log, compare them with the live
ones, and where they differ write them into fresh tables and swap those in.

Embedded, the log is every service's store read from the start; over Kafka it is every
case topic read from offset 0 up to where it ended when the rebuild began. The rebuilt
views hold the same rows the live ones do (the same statements, the same fold), so a
difference means the live views drifted (a bug, or someone edited them): the command
names each case whose state, trail or consent history differs, then repairs it.

Why it is fast (bench B4): the stores (or partitions) are read side by side and merged by
causal order, so each case's events arrive in the order the fold wants them; each event
is decoded once; each case's state is kept in memory and folded forward, never refolded
from its trail (unless a stream itself is out of order). The check keeps no rows: each
case's trail and consent history are compared as a count and a sum of row hashes
(`Fingerprint`), so views equal to the log are read once and never written; writing
them afresh and swapping (two thirds of a rebuild that always wrote) happens only where
something differs. Reading the stores one after another made every case refold from its
whole trail about once per service, decoding each event about five times.
"""
from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, NamedTuple, cast

import orjson

from events.codec import current_wire, decode, decode_and_wire, encode, stored_event_and_wire, why_unreadable
from events.envelope import CaseEvent, DomainEvent
from services.reporting.projections.case_state import (
    SERVICE_ORDER,
    CausalOrder,
    State,
    causal_order,
    fold_forward,
)
from services.reporting.projections.consent_history import consent_row
from services.reporting.views import ViewSql, causal_key, view_sql_for
from services.runtime.application import ServiceApplication
from services.runtime.attached import log_rows, plain_mapper, sqlite_file
from services.runtime.collector import collector_paused

BATCH = 500
#: Events per transaction on the fresh tables: a commit (an fsync) per 500 events was a
#: fifth of the rebuild's time; a much longer transaction would hold SQLite's one write
#: lock away from the live reporting worker for seconds.
COMMIT_EVERY = 5000
#: Cases out of causal order the check refolds itself, holding their events in memory
#: (about 20 events and 40 KB a case); past it, the write path refolds them from the fresh
#: trail, which holds none.
MAX_REFOLD_CASES = 5000
#: Messages taken per partition per fetch (bounds the merge's memory).
PARTITION_BUFFER = 2000
#: Consumers a rebuild from the topics opens at most (one per partition up to this; past
#: it, a consumer takes turns over its share of partitions).
MAX_READERS = 32
FETCH_WAIT_MS = 10
Progress = Callable[[int], None]
#: An event with the JSON payload the views store for it (its wire form).
#: An event read from the log: the event, its wire bytes and its causal order, worked out
#: once (the merge orders by it, the fold sorts and compares by it).
Decoded = tuple[DomainEvent, bytes, CausalOrder]
Item = DomainEvent | Decoded


def chunks(items: Iterable[Decoded], size: int | None = None) -> Iterator[list[Decoded]]:
    size = size or BATCH
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
    return heapq.merge(*streams, key=itemgetter(2))


def decoded(found: tuple[DomainEvent, bytes]) -> Decoded:
    event, wire = found
    return event, wire, causal_order(event)


# -- the stores --------------------------------------------------------------------------

def store_stream(app: ServiceApplication) -> Iterator[Decoded]:
    """One service's log, decoded once: the stored JSON plus the stream position the
    store keeps in its own columns is the event's wire form (events/codec.py). A plain
    SQLite store is read in one statement (one snapshot), without eventsourcing's
    notification objects."""
    found = sqlite_file(app)
    if found is not None:
        for originator, version, state in log_rows(found[0]):
            yield decoded(stored_event_and_wire(originator, version, state))
        return
    plain = plain_mapper(app)
    for section in app.notification_sections(size=BATCH):
        for n in section:
            if plain:
                yield decoded(stored_event_and_wire(n.originator_id, n.originator_version, n.state))
            else:
                event = app.decode(n)
                yield event, encode(event), causal_order(event)


def store_batches(services: Mapping[str, ServiceApplication]) -> Iterator[list[Decoded]]:
    """Every store from the start, merged by causal order, a batch at a time."""
    return chunks(by_causal_order(store_stream(app) for app in services.values()))


# -- the topics --------------------------------------------------------------------------

class PartitionReader:
    """One consumer over some partitions, read as one lazy stream per partition up to the
    end offsets taken when it started. The consumer fetches for one partition at a time,
    the one the merge is waiting for, so the merge holds at most a fetch's worth of each
    partition in memory. (Pausing and resuming partitions on one assignment instead left
    kafka-python 3 waiting for ever on a partition whose fetch it had dropped: B4.) A
    reader of one partition assigns it once and keeps it, so kafka-python's next fetch is
    already on its way while the merge works (`topic_batches` gives each partition its own
    reader, up to MAX_READERS: reassigning for every fetch made the read 1.6x slower)."""

    def __init__(self, consumer: Any, partitions: list[Any]):
        self.consumer = consumer
        self.ends = consumer.end_offsets(partitions) if partitions else {}
        starts = consumer.beginning_offsets(partitions) if partitions else {}
        self.partitions = [tp for tp in partitions if self.ends[tp] > starts[tp]]
        self.next = {tp: starts[tp] for tp in self.partitions}
        self.buffers: dict[Any, deque[Any]] = {tp: deque() for tp in self.partitions}
        self.done: set[Any] = set()
        self.assigned: Any = None

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
        if self.assigned != wanted:  # else the consumer is at self.next[wanted] already
            consumer.assign([wanted])
            consumer.seek(wanted, self.next[wanted])
            self.assigned = wanted
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
            yield decoded(decode_and_wire(m.value))
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

    def consumer() -> Any:
        # Every partition is read up to an end offset it had at the start, so the broker
        # has data for each fetch; one that finds none should not wait kafka-python's 500 ms.
        return KafkaConsumer(**client, group_id=None, enable_auto_commit=False,
                             fetch_max_wait_ms=FETCH_WAIT_MS)

    consumers = [consumer()]
    try:
        names = topics if topics is not None else [case_topic(s) for s in SERVICES]
        partitions = all_partitions(consumers[0], names)
        shares = [partitions[i::MAX_READERS] for i in range(min(len(partitions), MAX_READERS))] or [[]]
        consumers += [consumer() for _ in shares[1:]]
        readers = [PartitionReader(c, share) for c, share in zip(consumers, shares, strict=True)]
        yield from chunks(by_causal_order(decoded_messages(reader.messages(tp), skipped)
                                          for reader in readers for tp in reader.partitions))
    finally:
        for c in consumers:
            c.close()


# -- the views folded from the log ------------------------------------------------------

TrailRow = tuple[str, str, str, int, int, str, bytes]
#: The tables' columns in the order the rows hold them (insert_event, insert_consent).
TRAIL_COLUMNS = ("event_id", "case_id", "occurred_at", "service_rank", "version", "type", "payload")
CONSENT_COLUMNS = ("event_id", "case_id", "member_ref", "scope", "action", "at", "actor", "channel")


#: A case's events of earlier batches, to refold it from (the write path reads them from
#: the fresh trail); None where they are not at hand (the check keeps no trail).
Earlier = Callable[[str], list[DomainEvent]] | None


class FoldedViews:
    """The views' rows folded from the log, in memory: each event once in the trail, each
    case's state the fold of its trail in causal order, a consent row per grant or
    withdrawal with the case's member reference; the same rows `views.update_views`
    writes. A case is folded forward; an event that sorts before what its case already
    had makes the case refold from `earlier` (its events of earlier batches) and this
    batch's, as the live views do. Without `earlier` (the check), such a case is set aside
    in `out_of_order` and folded whole afterwards (`refold`), from a second read of its
    events only."""

    def __init__(self) -> None:
        #: The event ids in the trail, as the text the trail row holds (a str hashes in C
        #: and keeps its hash; a UUID's hash is Python).
        self.seen: set[str] = set()
        #: Each case's state, the last event folded into it and that event's causal_order
        #: (its causal key is written once, with the state; compared as tuples meanwhile).
        self.states: dict[str, tuple[State, CaseEvent, CausalOrder]] = {}
        #: A case's id as text, by the id's integer: made once per case, not per event.
        self.case_ids: dict[int, str] = {}
        #: Cases whose events came out of causal order with no `earlier` to refold from.
        self.out_of_order: set[str] = set()

    def add(self, items: Iterable[Item], earlier: Earlier = None,
            ) -> tuple[list[TrailRow], list[tuple[str, ...]]]:
        """A batch folded in: its trail rows and its consent rows. Each event's causal
        order is worked out once, where it was read (a moment's timestamp() costs 2 µs on
        pydantic's zones)."""
        rows: list[TrailRow] = []
        arrived: dict[str, list[tuple[CausalOrder, CaseEvent]]] = {}
        seen, case_ids = self.seen, self.case_ids
        for item in items:
            if isinstance(item, tuple):
                event, payload, key = item
            else:
                event, payload, key = item, encode(item), causal_order(item)
            if not isinstance(event, CaseEvent):
                continue  # not about a case
            event_id = str(event.event_id)
            if event_id in seen:
                continue  # already in the trail (a relay's re-send)
            seen.add(event_id)
            case_id = case_ids.get(event.case_id.int)
            if case_id is None:
                case_id = case_ids[event.case_id.int] = str(event.case_id)
            rows.append((event_id, case_id, event.occurred_at.isoformat(),
                         SERVICE_ORDER[event.service], event.originator_version, event.type_name,
                         payload))
            arrived.setdefault(case_id, []).append((key, event))
        consents = []
        for case_id, keyed in arrived.items():
            if case_id in self.out_of_order:
                continue  # folded whole by refold; its trail rows are made above as ever
            keyed.sort(key=itemgetter(0))  # stable: equal keys keep their arrival order
            events = [event for _, event in keyed]
            known = self.states.get(case_id)
            if known is None or keyed[0][0] > known[2]:
                state = fold_forward(known[0] if known else {}, events)
                self.states[case_id] = (state, events[-1], keyed[-1][0])
            elif earlier is None:  # out of causal order, no trail at hand: afterwards
                self.out_of_order.add(case_id)
                continue
            else:  # out of causal order: refold from the case's whole trail
                state = self._fold_whole(case_id, [*earlier(case_id), *events])
            consents += consent_rows(events, state)
        return rows, consents

    def refold(self, case_id: str, events: list[DomainEvent]) -> list[tuple[str, ...]]:
        """A case set aside as out of order, folded from all its events (each once): its
        state as the write path's refold makes it, and its consent rows."""
        return consent_rows(events, self._fold_whole(case_id, events))

    def _fold_whole(self, case_id: str, events: list[DomainEvent]) -> State:
        """The case's state folded afresh from `events` (all it has), in causal order."""
        trail = sorted(events, key=causal_order)
        last = cast(CaseEvent, trail[-1])
        state = fold_forward({}, trail)
        self.states[case_id] = (state, last, causal_order(last))
        return state

    def state_rows(self) -> list[tuple[str, str, bytes, str]]:
        return [(case_id, state["status"], orjson.dumps(state), causal_key(last))
                for case_id, (state, last, _) in self.states.items()]


def consent_rows(events: Iterable[DomainEvent], state: State) -> list[tuple[str, ...]]:
    """The consent rows of `events`, naming the member of the case's `state`."""
    member = state.get("member_ref")
    return [row for row in (consent_row(e, member) for e in events) if row is not None]


class Fingerprint:
    """Each case's views in a few numbers: its trail and its consent history as a count
    of rows and a sum of their hashes (equal whatever order the rows come in), its state
    row as it is. Two fingerprints taken in one process compare the views row for row
    without keeping any row: Python's str and bytes hashes are keyed afresh in each
    process, so a row cannot be made ahead to collide with another."""

    def __init__(self) -> None:
        self.trails: dict[str, list[int]] = {}
        self.consents: dict[str, list[int]] = {}
        self.states: dict[str, tuple[str, bytes, str]] = {}

    @staticmethod
    def _add(sums: dict[str, list[int]], rows: Iterable[tuple[Any, ...]]) -> None:
        for row in rows:
            total = sums.get(row[1])  # rows name their case second
            if total is None:
                total = sums[row[1]] = [0, 0]
            total[0] += 1
            total[1] += hash(row)

    def add(self, trail: Iterable[tuple[Any, ...]], consents: Iterable[tuple[Any, ...]]) -> None:
        self._add(self.trails, trail)
        self._add(self.consents, consents)

    def add_states(self, rows: Iterable[tuple[Any, ...]]) -> None:
        for case_id, status, state, key in rows:
            self.states[case_id] = (status, state, key)


def live_fingerprint(datastore: Any, sql: ViewSql) -> Fingerprint:
    """The live views' fingerprint, read in one transaction (one snapshot of the three
    tables) as plain tuples (the rows as they were written), a fetch at a time."""
    with datastore.transaction(commit=False) as c:
        return read_live(plain_tuples(c), sql)


def read_live(c: Any, sql: ViewSql, where: str = "") -> Fingerprint:
    """The fingerprint of the live rows `where` selects, read on `c` (a cursor giving
    tuples, inside the caller's transaction)."""
    t = sql.tables
    live = Fingerprint()

    def read(columns: tuple[str, ...], table: str) -> Iterator[tuple[Any, ...]]:
        c.execute(f"SELECT {', '.join(columns)} FROM {table}{where}")
        while batch := c.fetchmany(BATCH):
            yield from batch

    # A row written when its event's schema was older holds the older bytes; the rebuild
    # writes the event upcast, so the row is compared as that.
    live.add(((*row[:6], current_wire(row[6])) for row in read(TRAIL_COLUMNS, t[0])), ())
    live.add((), read(CONSENT_COLUMNS, t[2]))
    live.add_states(read(("case_id", "status", "state", "last_key"), t[1]))
    return live


def plain_tuples(c: Any) -> Any:
    """The driver's own cursor under eventsourcing's, giving rows as tuples: a tuple per
    row hashes as the rebuild's rows do, and is the cheapest row to make."""
    raw = getattr(c, "sqlite_cursor", None)  # eventsourcing's SQLite wrapper (no fetchmany)
    if raw is not None:
        raw.row_factory = None
        return raw
    from psycopg.rows import tuple_row

    c.row_factory = tuple_row
    return c


def differences(live: Fingerprint, rebuilt: Fingerprint) -> list[str]:
    """What differs, case by case. A state is compared as stored bytes first (both sides
    are orjson's bytes of the same fold); only bytes that differ are parsed and compared."""
    found = [f"case {cid}: only in the live views" for cid in live.states.keys() - rebuilt.states.keys()]
    found += [f"case {cid}: missing from the live views" for cid in rebuilt.states.keys() - live.states.keys()]
    for cid in live.states.keys() & rebuilt.states.keys():
        (status, old, key), (new_status, new, new_key) = live.states[cid], rebuilt.states[cid]
        if (old != new and orjson.loads(old) != orjson.loads(new)) or status != new_status or key != new_key:
            found.append(f"case {cid}: state differs")
    for name, old_sums, new_sums in (("trail", live.trails, rebuilt.trails),
                                     ("consent history", live.consents, rebuilt.consents)):
        found += [f"case {cid}: {name} differs" for cid in old_sums.keys() | new_sums.keys()
                  if old_sums.get(cid) != new_sums.get(cid)]
    return sorted(found)


# -- the rebuild -------------------------------------------------------------------------

#: The log from its start: called once to check the live views, and again to write fresh
#: ones only where they differ.
Log = Callable[[], Iterable[Sequence[Item]]]


class Checked(NamedTuple):
    """What the check found: events and cases folded, and each difference from the live
    views (None: more cases came out of causal order than it refolds in memory; only the
    write path settles them)."""
    events: int
    cases: int
    found: list[str] | None


#: A check of the whole log against the live views (`check_log`, or the sharded one of
#: rebuild_shards.py); None: it cannot run here, take the plain one.
Check = Callable[[Progress], Checked | None]


def rebuild_views(reporting: ServiceApplication, log: Log, progress: Progress = lambda n: None,
                  check_first: Check | None = None) -> dict[str, Any]:
    """Fold the log and compare the views it makes with the live ones; where they differ,
    write the views afresh and swap them in. Identical views are left as they are, so a
    rebuild that finds nothing writes nothing (the write and the swap were two thirds of
    a rebuild's time). A case whose events come out of causal order (a store whose rows
    are not in time order: a clock stepped back, worker instances with skewed clocks
    sharing a store) is refolded whole by the check, from a second read of the log that
    keeps only such cases' events; it used to send the whole log to the write path, which
    it still does past MAX_REFOLD_CASES of them."""
    recorder: Any = reporting.recorder
    live_sql: ViewSql = view_sql_for(recorder.datastore)
    with collector_paused():  # the whole log passes through memory (runtime/collector.py)
        checked = check_first(progress) if check_first is not None else None
        if checked is None:
            checked = check_log(log, progress, lambda: live_fingerprint(recorder.datastore, live_sql))
        if checked.found == []:
            return {"events": checked.events, "cases": checked.cases, "equal_to_live": True,
                    "differences": [], "rewritten": False}
        views, events, found = write_and_swap(recorder, live_sql, log())
    return {"events": events, "cases": len(views.states), "equal_to_live": not found,
            "differences": found[:20], "rewritten": True}


def check_log(log: Log, progress: Progress, live: Callable[[], Fingerprint]) -> Checked:
    """The log folded in memory and fingerprinted, compared with the `live` views. Cases
    that came out of causal order are folded whole from a second read (`log` again)."""
    views, rebuilt, events = FoldedViews(), Fingerprint(), 0
    for batch in log():
        rebuilt.add(*views.add(batch))
        events += len(batch)
        progress(len(batch))
    if len(views.out_of_order) > MAX_REFOLD_CASES:
        return Checked(events, len(views.states), None)
    if views.out_of_order:
        for case_id, case_events in events_of(views.out_of_order, log()).items():
            rebuilt.consents.pop(case_id, None)  # what the first read made of them, unordered
            rebuilt.add((), views.refold(case_id, case_events))
    rebuilt.add_states(views.state_rows())
    return Checked(events, len(views.states), differences(live(), rebuilt))


def events_of(cases: set[str], batches: Iterable[Sequence[Item]]) -> dict[str, list[DomainEvent]]:
    """Each of `cases`' events in the log, once each (a relay's re-send is dropped, as the
    trail drops it)."""
    found: dict[str, list[DomainEvent]] = {case_id: [] for case_id in cases}
    seen: set[str] = set()
    for batch in batches:
        for item in batch:
            event = item[0] if isinstance(item, tuple) else item
            if not isinstance(event, CaseEvent):
                continue
            wanted = found.get(str(event.case_id))
            if wanted is not None and (event_id := str(event.event_id)) not in seen:
                seen.add(event_id)
                wanted.append(event)
    return found


def write_and_swap(recorder: Any, live: ViewSql, batches: Iterable[Sequence[Item]],
                   ) -> tuple[FoldedViews, int, list[str]]:
    """The views written afresh into tables only this rebuild uses, compared with the live
    ones, then swapped in. A failed rebuild leaves nothing behind."""
    fresh = ViewSql(param=live.param, binary=live.binary, schema=live.schema,
                    prefix=f"reporting_rb{int(time.time() * 1000)}_")
    with recorder.datastore.transaction(commit=True) as c:
        for statement in fresh.create:
            c.execute(statement)
    try:
        views, rebuilt, events = FoldedViews(), Fingerprint(), 0
        for group in grouped(batches, COMMIT_EVERY):
            with recorder.datastore.transaction(commit=True) as c:
                for batch in group:
                    rows, consents = views.add(batch, lambda case_id: fresh_trail(c, fresh, case_id))
                    if rows:
                        c.executemany(fresh.insert_event, rows)
                    if consents:
                        c.executemany(fresh.insert_consent, consents)
                    rebuilt.add(rows, consents)
                    events += len(batch)
        states = views.state_rows()
        with recorder.datastore.transaction(commit=True) as c:
            c.executemany(fresh.upsert_state, states)
        rebuilt.add_states(states)
        found = differences(live_fingerprint(recorder.datastore, live), rebuilt)
    except BaseException:
        drop(recorder, fresh)
        raise
    swap(recorder, live, fresh)
    return views, events, found


def fresh_trail(c: Any, fresh: ViewSql, case_id: str) -> list[DomainEvent]:
    c.execute(fresh.case_payloads, (case_id,))
    return [decode(bytes(r["payload"])) for r in c.fetchall()]


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
