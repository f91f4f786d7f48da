"""A home grown to a large log by cloning its cases (untimed set-up for B4 at 1M events).

Why: building a million events through the embedded runtime (every command, every
reaction) takes over an hour on the development VM; copying the stored rows takes
seconds. Each copy is every stored row of the source again, with every id the row holds
(stream ids, case, event, member, causation and correlation ids: anything written as a
UUID) replaced by a fresh one, the same fresh one wherever the source had the same id.
Every date the row holds moves by whole weeks, each copy after the one before: each
store's log stays in time order, as a real one is (copies at the source's own moments
made each store's log jump back in time at every copy, so a rebuild's merge handed cases
their events out of causal order, which no store written as time passes does). So a copy
is a new set of cases with the same shape and the same bytes otherwise: a rebuild
decodes, orders, folds and fingerprints it as it would real cases. The followers'
positions are moved to the new ends of their leaders' logs, so the home is one whose
pipeline has caught up (a `cases rebuild` on it pumps nothing).

What is not kept: the stores' hash chains cover the source's rows only (`cases verify`
would name the copies), and the reporting views do not hold the copies until a rebuild
writes them (bench/b4_rebuild.py `grown` runs one, untimed, so that later rebuilds find
the views equal).
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Callable
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path

from services.bootstrap import SERVICES
from services.runtime.attached import stored_id

#: A UUID as str(UUID) writes it, the form every id takes in the stored JSON.
UUID_TEXT = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: A JSON string that starts with a date: a date, or a moment's day.
DAY_TEXT = re.compile(rb'"([0-9]{4}-[0-9]{2}-[0-9]{2})')
OCCURRED_DAY = re.compile(rb'"occurred_at":"([0-9]{4}-[0-9]{2}-[0-9]{2})')
Row = tuple[str, int, str, bytes]


def renamer() -> Callable[[bytes], bytes]:
    """One copy's id map: each source id gets one fresh id, made the first time it is seen."""
    fresh: dict[bytes, bytes] = {}

    def renamed(old: bytes) -> bytes:
        new = fresh.get(old)
        if new is None:
            new = fresh[old] = str(uuid.uuid4()).encode()
        return new

    return renamed


def shifter(days: int) -> Callable[[re.Match[bytes]], bytes]:
    """Every date `days` later (a copy's moments come after the source's)."""
    moved: dict[bytes, bytes] = {}

    def shifted(match: re.Match[bytes]) -> bytes:
        day = match[1]
        new = moved.get(day)
        if new is None:
            new = moved[day] = (date.fromisoformat(day.decode()) + timedelta(days=days)).isoformat().encode()
        return b'"' + new

    return shifted


def copied(rows: list[Row], renamed: Callable[[bytes], bytes], shift_days: int) -> list[Row]:
    def sub(match: re.Match[bytes]) -> bytes:
        return renamed(match[0])

    shifted = shifter(shift_days)
    out = []
    for stream, version, topic, state in rows:
        # eventsourcing keeps a UUID stream id in SQLite as its 32 hex digits.
        new_stream = renamed(stored_id(stream).encode()).decode().replace("-", "")
        out.append((new_stream, version, topic, DAY_TEXT.sub(shifted, UUID_TEXT.sub(sub, state))))
    return out


def span_in_weeks(sources: dict[str, list[Row]]) -> int:
    """Whole weeks covering every moment of the source (a shift by whole weeks keeps each
    date's weekday, so working-day figures the events carry stay true of their dates)."""
    days = [date.fromisoformat(found[1].decode()) for rows in sources.values() for *_, state in rows
            if (found := OCCURRED_DAY.search(state)) is not None]
    return (max(days) - min(days)).days // 7 + 1 if days else 1


def clone_cases(home: Path, total_events: int) -> int:
    """Copies of the home's cases added until its stores hold at least `total_events`
    events; the number they hold."""
    sources: dict[str, list[Row]] = {}
    for service in SERVICES:
        with closing(sqlite3.connect(home / f"{service}.sqlite")) as db:
            sources[service] = db.execute("SELECT originator_id, originator_version, topic, state"
                                          " FROM stored_events ORDER BY rowid").fetchall()
    base = sum(len(rows) for rows in sources.values())
    copies = max(0, -(-(total_events - base) // max(base, 1)))  # rounded up
    weeks = span_in_weeks(sources)
    dbs = {service: sqlite3.connect(home / f"{service}.sqlite", isolation_level=None) for service in SERVICES}
    try:
        for copy in range(1, copies + 1):
            renamed = renamer()  # shared by the four stores: a case's id is the same in each
            for service, rows in sources.items():
                db = dbs[service]
                db.execute("BEGIN")
                db.executemany("INSERT INTO stored_events VALUES (?, ?, ?, ?)",
                               copied(rows, renamed, 7 * weeks * copy))
                db.execute("COMMIT")
        heads = {service: db.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0] or 0
                 for service, db in dbs.items()}
        for db in dbs.values():  # every follower has processed its leaders' logs to their ends
            for leader, head in heads.items():
                db.execute("UPDATE tracking SET notification_id = ? WHERE application_name = ?", (head, leader))
    finally:
        for db in dbs.values():
            db.close()
    return base * (copies + 1)
