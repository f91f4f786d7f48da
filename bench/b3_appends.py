"""B3: event appends through the project's store (A) against raw inserts of the same rows (B).

Three series, each its own A/B pairs:

- `sqlite-1`: SQLite, one event per transaction (fsync-bound: goal 0.8);
- `sqlite-100`: SQLite, 100 events per transaction (per-row Python cost shows: goal 0.5);
- `pg-4w`: PostgreSQL, four writer threads, one event per transaction (goal 0.5).

A is `ServiceApplication.commit`, the path every command and reaction records through:
the mapper (pydantic -> stored JSON), the store's hash chain, eventsourcing's recorder and
the applied-events bookkeeping, into a fresh store (a Records application: no views are
written in its transactions). B writes the rows A's mapper made (mapped untimed) with
plain `sqlite3` (`BEGIN; executemany; COMMIT`, same table shape and primary key, WAL, the
same synchronous setting) or plain psycopg (one connection per writer, autocommit off).
The events are real: every event of a source home's stores, copied onto fresh stream ids
until the series' size is reached.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.protocol import Sample, run_pairs, settle, timed, unsettle
from bench.suite import Context, peak_rss_mb
from events.envelope import CaseEvent, DomainEvent
from services.bootstrap import build_service
from services.common.context import SystemClock
from services.records.application import Records
from services.runtime.stores import postgres_env, prepare_store

GOALS = {"sqlite-1": 0.8, "sqlite-100": 0.5, "pg-4w": 0.5}
WRITERS = 4


def source_events(ctx: Context) -> list[DomainEvent]:
    """Every event of the source home, in each store's notification order (store by store:
    stream versions stay consecutive per stream)."""
    home = ctx.source_home(10 if ctx.quick else 20)  # a template: copies make the size
    events: list[DomainEvent] = []
    for name in ("intake", "records", "review", "reporting"):
        app = build_service(name, home)
        try:
            events += list(app.stored_events())
        finally:
            app.close()
    return events


def copies(events: list[DomainEvent], count: int) -> list[DomainEvent]:
    """`count` events: the source's, copied onto fresh stream ids (and event and case ids),
    so that every copy is a new stream a store accepts."""
    out: list[DomainEvent] = []
    while len(out) < count:
        streams: dict[Any, uuid.UUID] = {}
        for event in events:
            new_stream = streams.setdefault((event.service, event.originator_id), uuid.uuid4())
            update: dict[str, Any] = {"originator_id": new_stream, "event_id": uuid.uuid4()}
            if isinstance(event, CaseEvent):
                update["case_id"] = streams.setdefault(("case", event.case_id), uuid.uuid4())
            out.append(event.model_copy(update=update))
            if len(out) == count:
                break
    return out


def chunked(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


# -- SQLite ----------------------------------------------------------------------------------

def sqlite_service(root: Path) -> Records:
    app = build_service("records", root)
    assert isinstance(app, Records)
    return app


def run_sqlite_a(events: list[DomainEvent], per_txn: int, tmp: Path) -> Sample:
    root = Path(tempfile.mkdtemp(prefix="bench-b3-a-", dir=tmp))
    app = sqlite_service(root)
    try:
        batches = chunked(events, per_txn)

        def append() -> int:
            for batch in batches:
                app.commit(batch)
            return len(events)

        settle()
        try:
            phase = timed("append", append)
        finally:
            unsettle()
        stored = app.recorder.max_notification_id() or 0
        if stored != len(events):
            raise RuntimeError(f"the store holds {stored} of {len(events)} events")
    finally:
        app.close()
        shutil.rmtree(root, ignore_errors=True)
    return Sample(f"ServiceApplication.commit, {per_txn}/txn", 0, [phase],
                  {"peak_rss_mb": peak_rss_mb()})


def stored_rows(events: list[DomainEvent], tmp: Path) -> list[tuple[str, int, str, bytes]]:
    """What A's mapper makes of the events (untimed): B inserts exactly these rows."""
    root = Path(tempfile.mkdtemp(prefix="bench-b3-rows-", dir=tmp))
    app = sqlite_service(root)
    try:
        stored = [app.mapper.to_stored_event(e) for e in events]
    finally:
        app.close()
        shutil.rmtree(root, ignore_errors=True)
    # eventsourcing keeps SQLite stream ids as 32 hex digits: so does B.
    return [(s.originator_id.hex, s.originator_version, s.topic, s.state) for s in stored]


def run_sqlite_b(rows: list[tuple[str, int, str, bytes]], per_txn: int, tmp: Path) -> Sample:
    root = Path(tempfile.mkdtemp(prefix="bench-b3-b-", dir=tmp))
    db = sqlite3.connect(root / "raw.sqlite", isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        # eventsourcing leaves synchronous at SQLite's default (FULL in WAL): so does B.
        db.execute("CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER,"
                   " topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))")
        batches = chunked(rows, per_txn)

        def insert() -> int:
            for batch in batches:
                db.execute("BEGIN")
                db.executemany("INSERT INTO stored_events VALUES (?, ?, ?, ?)", batch)
                db.execute("COMMIT")
            return len(rows)

        settle()
        try:
            phase = timed("insert", insert)
        finally:
            unsettle()
        if db.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0] != len(rows):
            raise RuntimeError("raw sqlite3 lost rows")
    finally:
        db.close()
        shutil.rmtree(root, ignore_errors=True)
    return Sample(f"raw sqlite3 executemany, {per_txn}/txn", 0, [phase])


# -- PostgreSQL, four writers -----------------------------------------------------------------

def in_threads(jobs: list[Callable[[], None]]) -> None:
    errors: list[BaseException] = []

    def guard(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as error:  # noqa: BLE001 - re-raised below, in the caller
            errors.append(error)

    threads = [threading.Thread(target=guard, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def drop_schema(dsn: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def run_pg_a(events: list[DomainEvent], dsn: str, tag: str) -> Sample:
    """Four Records applications on one bench schema, each appending its quarter."""
    import psycopg

    schema = f"bench_b3_{tag}_a"
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    apps: list[Records] = []
    try:
        apps.append(Records(postgres_env(dsn, schema), SystemClock(), pack_key=None))
        prepare_store(apps[0], apps[0].extra_tables())  # the project's own table set-up
        # The others connect once the tables and types exist (their pools look the types up).
        for _ in range(WRITERS - 1):
            apps.append(Records(postgres_env(dsn, schema), SystemClock(), pack_key=None))
        shares = [events[i::WRITERS] for i in range(WRITERS)]
        def writer(app: Records, share: list[DomainEvent]) -> None:
            for event in share:
                app.commit([event])

        jobs = [lambda app=app, share=share: writer(app, share)
                for app, share in zip(apps, shares, strict=True)]

        def append() -> int:
            in_threads(jobs)
            return len(events)

        settle()
        try:
            phase = timed("append", append)
        finally:
            unsettle()
        stored = apps[0].recorder.max_notification_id() or 0
        if stored != len(events):
            raise RuntimeError(f"the PostgreSQL store holds {stored} of {len(events)} events")
    finally:
        for app in apps:
            app.close()
        drop_schema(dsn, schema)
    return Sample(f"ServiceApplication.commit, {WRITERS} writers, 1/txn", 0, [phase],
                  {"peak_rss_mb": peak_rss_mb()})


def run_pg_b(rows: list[tuple[str, int, str, bytes]], dsn: str, tag: str) -> Sample:
    import psycopg

    schema = f"bench_b3_{tag}_b"
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
        # eventsourcing's table shape: the same key and the notification id index.
        db.execute(f"CREATE TABLE {schema}.stored_events (originator_id uuid NOT NULL,"
                   " originator_version bigint NOT NULL, topic text, state bytea,"
                   " notification_id bigserial, PRIMARY KEY (originator_id, originator_version))")
        db.execute(f"CREATE UNIQUE INDEX ON {schema}.stored_events (notification_id)")
    connections = [psycopg.connect(dsn) for _ in range(WRITERS)]
    try:
        shares = [rows[i::WRITERS] for i in range(WRITERS)]

        def writer(db: Any, share: list[tuple[str, int, str, bytes]]) -> None:
            for row in share:
                with db.transaction():
                    db.execute(f"INSERT INTO {schema}.stored_events (originator_id,"
                               " originator_version, topic, state) VALUES (%s, %s, %s, %s)", row)

        jobs = [lambda db=db, share=share: writer(db, share)
                for db, share in zip(connections, shares, strict=True)]
        def insert() -> int:
            in_threads(jobs)
            return len(rows)

        settle()
        try:
            phase = timed("insert", insert)
        finally:
            unsettle()
    finally:
        for db in connections:
            db.close()
        drop_schema(dsn, schema)
    return Sample(f"raw psycopg, {WRITERS} writers, 1/txn", 0, [phase])


def pg_reachable(dsn: str) -> str | None:
    try:
        import psycopg

        psycopg.connect(dsn, connect_timeout=3).close()
        return None
    except Exception as error:  # noqa: BLE001 - said in the summary, the run goes on
        return f"{type(error).__name__}: {error}"


def run(ctx: Context) -> list[dict[str, Any]]:
    base = source_events(ctx)
    sizes = {"sqlite-1": ctx.cases(600, 40), "sqlite-100": ctx.cases(20_000, 400),
             "pg-4w": ctx.cases(2_000, 80)}
    if ctx.size:  # BENCH_SIZE is in cases; about 17 events a case
        sizes = {k: max(100, ctx.size * 17 // (30 if k != "sqlite-100" else 1)) for k in sizes}
    summaries = []
    sink = ctx.sink("B3")
    try:
        for series, count in sizes.items():
            events = copies(base, count)
            rows = stored_rows(events, ctx.tmp_dir)
            notes: dict[str, Any] = {"series": series, "goal": GOALS[series], "events": count}
            if series.startswith("sqlite"):
                per_txn = 1 if series == "sqlite-1" else 100
                side_a = lambda _i, e=events, n=per_txn: run_sqlite_a(e, n, ctx.tmp_dir)  # noqa: E731
                side_b = lambda _i, r=rows, n=per_txn: run_sqlite_b(r, n, ctx.tmp_dir)  # noqa: E731
            else:
                down = pg_reachable(ctx.pg_dsn)
                if down:
                    summary = {"type": "summary", "bench": "B3", "series": series,
                               "skipped": f"PostgreSQL unreachable: {down}"}
                    sink.write(summary)
                    summaries.append(summary)
                    continue
                tag = ctx.stamp.lower()
                side_a = lambda i, e=events, t=tag: run_pg_a(e, ctx.pg_dsn, f"{t}_{i}")  # noqa: E731
                side_b = lambda i, r=rows, t=tag: run_pg_b(r, ctx.pg_dsn, f"{t}_{i}")  # noqa: E731
            summary = run_pairs(f"B3 {series}", side_a, side_b, pairs=ctx.pairs,
                                warmup=ctx.warmup, sink=sink, notes=notes)
            summaries.append(summary)
    finally:
        sink.close()
    return summaries
