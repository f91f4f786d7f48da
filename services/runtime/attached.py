"""Reading a service's plain SQLite store straight, without eventsourcing's recorder: one
stream's rows from every store in one statement (ATTACH), and a whole log in one.

Why: the auditor's replay reads a case straight from the four stores (it does not trust a
projection). Through eventsourcing that is four recorder calls, each its own transaction,
and a StoredEvent per row: at a case's twenty-odd events, that fixed cost was most of a
replay (bench B5). One connection with the four files attached, read-only, answers with
one statement.

Only where every store is a plain SQLite file (no cipher, no compressor): otherwise
`stream_rows` says None and the caller reads through the recorders. `log_rows` serves
`cases rebuild` the same way (one statement, one snapshot of each store), and `heads`
the embedded pump (every store's head in one statement, not a transaction per store). The connection is
kept per thread and per set of files, and a file replaced under it (a home made afresh at
the same path) is noticed by its inode, so a kept connection never reads a deleted store.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from uuid import UUID

#: Connections kept per thread (a process reads one home, or a few in tests).
KEPT = 4
_local = threading.local()

Row = tuple[str, int, bytes]  # (service, originator_version, state)


#: Rows fetched at a time from a whole log.
FETCH = 500


def plain_mapper(app: Any) -> bool:
    """Whether the service stores events as their bytes (no cipher, no compressor)."""
    return not getattr(app.mapper, "cipher", None) and not getattr(app.mapper, "compressor", None)


def stored_id(hex_digits: str) -> str:
    """A stream id as eventsourcing keeps a UUID in SQLite (its 32 hex digits), written as
    str(UUID) writes it: without making a UUID, which was a tenth of a rebuild's read."""
    h = hex_digits
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


#: sqlite_file's answer per service object: resolving the path was most of a replay's read.
_files: weakref.WeakKeyDictionary[Any, tuple[str, Path] | None] = weakref.WeakKeyDictionary()


def sqlite_file(app: Any) -> tuple[str, Path] | None:
    """The service's store as the URI to attach and the file it names, where it is a plain
    SQLite file; else None. A read-only home's recorder already reads through a URI that
    SQLite can open there (stores.readonly_uri: immutable, or a private copy): that one."""
    try:
        return _files[app]
    except KeyError:
        found = _files[app] = _sqlite_file(app)
        return found


def _sqlite_file(app: Any) -> tuple[str, Path] | None:
    if not plain_mapper(app):
        return None
    pool = getattr(getattr(app.recorder, "datastore", None), "pool", None)
    name = getattr(pool, "db_name", None)
    if not isinstance(name, str) or getattr(pool, "is_sqlite_memory_mode", True):
        return None
    if name.startswith("file:"):
        return name, Path(unquote(urlsplit(name).path))
    path = Path(name).resolve()
    return f"file:{quote(str(path))}?mode=ro", path


def stream_rows(services: Mapping[str, Any], stream_id: UUID) -> list[Row] | None:
    """Every stored row of the stream across the services' stores, or None where a store is
    not a plain SQLite file."""
    files = _files_of(services)
    if files is None:
        return None
    connection, names = _connection(files)
    query = " UNION ALL ".join(
        f"SELECT '{service}', originator_version, state FROM {alias}.stored_events WHERE originator_id = ?1"
        for service, alias in names.items())
    # As eventsourcing stores a UUID originator id: its hex digits.
    return connection.execute(query, (stream_id.hex,)).fetchall()


def heads(services: Mapping[str, Any]) -> dict[str, int] | None:
    """Each store's highest notification id (eventsourcing's is the rowid), read in one
    statement, or None where a store is not a plain SQLite file."""
    files = _files_of(services)
    if files is None:
        return None
    connection, names = _connection(files)
    query = "SELECT " + ", ".join(f"(SELECT MAX(rowid) FROM {alias}.stored_events)" for alias in names.values())
    (row,) = connection.execute(query).fetchall()  # a finished statement holds no snapshot
    return {service: found or 0 for service, found in zip(names, row, strict=True)}


def log_rows(uri: str, where: str = "", parameters: tuple[Any, ...] = ()) -> Iterator[tuple[str, int, bytes]]:
    """A store's whole log (or the rows `where` picks) as (stream id, version, stored
    bytes), in notification order (eventsourcing's notification id is the rowid), read in
    one statement."""
    with closing(sqlite3.connect(uri, uri=True)) as connection:
        rows = connection.execute(
            f"SELECT originator_id, originator_version, state FROM stored_events{where} ORDER BY rowid",
            parameters)
        while batch := rows.fetchmany(FETCH):
            for originator, version, state in batch:
                yield stored_id(originator), version, state


def _files_of(services: Mapping[str, Any]) -> dict[str, tuple[str, Path]] | None:
    files = {}
    for service, app in services.items():
        found = sqlite_file(app)
        if found is None:
            return None
        files[service] = found
    return files


def _connection(files: dict[str, tuple[str, Path]]) -> tuple[sqlite3.Connection, dict[str, str]]:
    key = tuple((service, uri, _inode(path)) for service, (uri, path) in sorted(files.items()))
    kept: dict[tuple[Any, ...], tuple[sqlite3.Connection, dict[str, str]]] = _local.__dict__.setdefault("kept", {})
    found = kept.get(key)
    if found is not None:
        return found
    connection = sqlite3.connect(":memory:", uri=True, isolation_level=None)
    names = {}
    for number, (service, (uri, _)) in enumerate(sorted(files.items())):
        alias = f"store{number}"
        connection.execute(f"ATTACH DATABASE ? AS {alias}", (uri,))
        names[service] = alias
    if len(kept) >= KEPT:
        stale, _ = kept.pop(next(iter(kept)))
        stale.close()
    kept[key] = (connection, names)
    return connection, names


def _inode(path: Path) -> tuple[int, int]:
    try:
        status = path.stat()
    except OSError:
        return (0, 0)
    return (status.st_dev, status.st_ino)
