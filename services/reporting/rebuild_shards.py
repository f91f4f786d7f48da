"""`cases rebuild`'s check, split by case over the machine's cores.

Why: the check decodes every stored event (pydantic, about 10 µs each) and folds it into
its case in Python (about 15 µs): one core spent 1.5 s of the 2.1 s that a rebuild of
the 2,000-case demo home took. A case's fold needs only that case's events, so each of
`shards` processes takes the cases whose id ends in its share of the hex digits: it reads
only its cases' rows from every store, decodes them, folds them and compares them with the
live rows of the same cases. The process that runs the command takes share 0;
the others are forked from it, so they start with everything imported and read their own
connections, never the parent's.

Which case a stored row belongs to is read from its bytes before decoding (the first
`"case_id":"…"` of the JSON: an event's own id comes before any field of its payload), by
SQLite in the share's query (`shard_rows`), as `shard_of_stored` reads it in Python.
Each shard checks that every event it decoded is one of its cases; a row that was not
(bytes this reading does not expect, an upcast event that gains its case id) makes the
sharded check step aside for the single-process one, which reads the log as it always
did. So does a store that is not a plain SQLite file, a small log (forking would cost more
than it saves) or a machine with one core. A case out of causal order is refolded whole
within its shard (rebuild.check_log); where any shard finds a difference, or more such
cases than it refolds in memory, the write path that follows is the single-process one.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import closing
from typing import Any

from events.codec import stored_event_and_wire
from events.envelope import CaseEvent
from services.reporting.projections.case_state import causal_order
from services.reporting.rebuild import (
    Check,
    Checked,
    Decoded,
    Fingerprint,
    Progress,
    by_causal_order,
    check_log,
    chunks,
    read_live,
)
from services.reporting.views import ViewSql, view_sql_for
from services.runtime.application import ServiceApplication
from services.runtime.attached import heads, log_rows, sqlite_file

#: Below this many stored events the single-process check is as fast (a fork and the
#: stores read once more per shard cost about 30 ms).
MIN_EVENTS = 2000
MAX_SHARDS = 4
#: Seconds a child's share may take beyond three times the parent's own before it counts as stuck.
STUCK_AFTER = 10.0
CASE_KEY = b'"case_id":"'
#: The offset, from the key, of the last character of the 36-character id.
LAST_DIGIT = len(CASE_KEY) + 35
HEX_VALUE = {ord(c): int(c, 16) for c in "0123456789abcdef"}


class Misrouted(Exception):
    """A shard decoded an event of a case that is not one of its own."""


def shard_count(cores: int) -> int:
    """A power of two (the shares divide the sixteen hex digits evenly), one per core."""
    return next(n for n in (MAX_SHARDS, 2, 1) if n <= cores)


def shard_of_stored(state: bytes, shards: int) -> int:
    at = state.find(CASE_KEY)
    if at < 0:
        return 0  # not about a case: share 0 decodes it (and the fold passes over it)
    return HEX_VALUE.get(state[at + LAST_DIGIT], 0) % shards


def shard_rows(shard: int, shards: int) -> tuple[str, tuple[bytes]]:
    """The WHERE clause that picks, in SQLite, the stored rows shard_of_stored gives this
    shard: the other shards' rows never reach Python (fetching them, and making their
    stream ids, was a tenth of a share's time)."""
    digits = ", ".join(f"'{c}'" for c in "0123456789abcdef" if int(c, 16) % shards == shard)
    of_cases = f"(instr(state, ?1) > 0 AND CAST(substr(state, instr(state, ?1) + {LAST_DIGIT}, 1) AS TEXT) IN ({digits}))"
    return f" WHERE {of_cases}" + (" OR instr(state, ?1) = 0" if shard == 0 else ""), (CASE_KEY,)


def shard_stream(uri: str, shard: int, shards: int) -> Iterator[Decoded]:
    """One store's log as rebuild.store_stream reads it, only this shard's cases."""
    for originator, version, state in log_rows(uri, *shard_rows(shard, shards)):
        event, wire = stored_event_and_wire(originator, version, state)
        # A case id's last hex digit is its integer's last four bits.
        if isinstance(event, CaseEvent) and (event.case_id.int & 15) % shards != shard:
            raise Misrouted
        yield event, wire, causal_order(event)


def live_shard(uri: str, sql: ViewSql, shard: int, shards: int) -> Fingerprint:
    """The live views of this shard's cases, read in one transaction on a connection of
    this process's own."""
    digits = ", ".join(f"'{c}'" for c in "0123456789abcdef" if int(c, 16) % shards == shard)
    with closing(sqlite3.connect(uri, uri=True, isolation_level=None)) as db:
        db.execute("BEGIN")
        try:
            return read_live(db.cursor(), sql, f" WHERE substr(case_id, -1) IN ({digits})")
        finally:
            db.execute("ROLLBACK")


def check_shard(stores: list[str], views: str, sql: ViewSql, shard: int, shards: int,
                progress: Progress) -> Checked | None:
    """This shard's cases checked against their live views; None where a row was misrouted."""
    def batches() -> Iterator[list[Decoded]]:
        return chunks(by_causal_order(shard_stream(uri, shard, shards) for uri in stores))

    try:
        return check_log(batches, progress, lambda: live_shard(views, sql, shard, shards))
    except Misrouted:
        return None


def _run_shard(send: Any, stores: list[str], views: str, sql: ViewSql, shard: int, shards: int) -> None:
    try:
        result = check_shard(stores, views, sql, shard, shards, lambda n: None)
    except Exception:  # noqa: BLE001 - the parent takes the single-process check instead
        result = None
    send.send(tuple(result) if result is not None else None)
    send.close()


def sharded_check(services: Mapping[str, ServiceApplication], reporting: ServiceApplication,
                  shards: int | None = None) -> Check:
    """The rebuild's check over `shards` processes (default: one per core, where the log
    is big enough to gain from it). The check it gives answers None where it cannot run:
    rebuild_views then takes the single-process one."""

    def check(progress: Progress) -> Checked | None:
        found = [sqlite_file(app) for app in services.values()]
        views = sqlite_file(reporting)
        if views is None or any(f is None for f in found):
            return None
        n = shards
        if n is None:
            counted = heads(services) or {}
            n = shard_count(len(os.sched_getaffinity(0))) if sum(counted.values()) >= MIN_EVENTS else 1
        if n < 2:
            return None
        stores = [f[0] for f in found if f is not None]
        sql = view_sql_for(reporting.recorder.datastore)  # type: ignore[attr-defined]
        return in_processes(stores, views[0], sql, n, progress)

    return check


def in_processes(stores: list[str], views: str, sql: ViewSql, shards: int,
                 progress: Progress) -> Checked | None:
    import multiprocessing

    context = multiprocessing.get_context("fork")
    children = []
    for shard in range(1, shards):
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_run_shard, args=(send, stores, views, sql, shard, shards),
                                daemon=True)
        child.start()
        send.close()
        children.append((child, receive))
    started = time.monotonic()
    results: list[Checked | None] = [check_shard(stores, views, sql, 0, shards, progress)]
    # The shares are even: a child far slower than this process's own share is stuck (a
    # lock some thread held when it was forked, say), and the single process takes over.
    deadline = time.monotonic() + max(STUCK_AFTER, 3 * (time.monotonic() - started))
    for child, receive in children:
        answer = None
        try:
            if receive.poll(max(0.0, deadline - time.monotonic())):
                answer = receive.recv()
        except EOFError:  # the child died without answering
            pass
        results.append(Checked(*answer) if answer is not None else None)
        receive.close()
        if answer is None:
            # SIGKILL, not SIGTERM: a child inherits this process's signal handlers, and one
            # that only sets a flag (a worker's graceful stop, in a process that ran one)
            # would leave a stuck share stuck and this join waiting on it. A share holds
            # nothing to clean up: it only read.
            child.kill()
        child.join()
    if any(r is None for r in results):
        return None
    done = [r for r in results if r is not None]
    progress(sum(r.events for r in done[1:]))
    found = [r.found for r in done]
    return Checked(sum(r.events for r in done), sum(r.cases for r in done),
                   None if any(f is None for f in found) else sorted(d for f in found if f for d in f))
