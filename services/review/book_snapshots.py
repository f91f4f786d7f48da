"""Review's books (the SLA clock, the referral book), kept as of a position in its log.

Why: the books are folds of review's own log, kept in memory and brought up to date with
what is new. A worker folds the log once; but each embedded command is a process of its
own, and every one that records something ticks the clock, which folded the whole log
again: 0.2 to 0.3 s of every write command on the 2,000-case demo home, growing with every
case the home ever had. Each book is now stored, now and then, as of a position, in a
table of review's store; a process starts from it and folds only what came after.

A snapshot is taken to hold only while the log up to its position is the log it was folded
from: it keeps the hash chain's link at that position, and is read only where the chain
still has that link there (the link commits to every event up to it). A home made afresh
at the same path, or a store restored from another, finds no snapshot and folds from the
start. A snapshot is an optimisation: where it cannot be read (an older home, opened
read-only, has no table) or written (a read-only home, a busy store), the book is folded
as before, and the command goes on.
"""

from __future__ import annotations

from typing import Any

from services.runtime.stores import is_postgres, placeholder

#: Events folded since the last snapshot (or the start) before a process stores another.
SNAPSHOT_AFTER = 500


def books_table(datastore: Any) -> str:
    return f"{datastore.schema}.review_books" if is_postgres(datastore) else "review_books"


def create_statement(datastore: Any) -> str:
    binary = "BYTEA" if is_postgres(datastore) else "BLOB"
    return (f"CREATE TABLE IF NOT EXISTS {books_table(datastore)} (name TEXT PRIMARY KEY,"
            f" position BIGINT NOT NULL, link TEXT NOT NULL, state {binary} NOT NULL)")


def load(recorder: Any, name: str) -> tuple[int, bytes] | None:
    """The book's position and state, where a snapshot is stored and the chain still holds
    its link at that position; else None."""
    datastore, p = recorder.datastore, placeholder(recorder.datastore)
    try:
        with datastore.transaction(commit=False) as c:
            c.execute(f"SELECT b.position, b.state FROM {books_table(datastore)} b"
                      f" JOIN {recorder.chain_sql.table} c ON c.notification_id = b.position AND c.link = b.link"
                      f" WHERE b.name = {p}", (name,))
            row = c.fetchone()
    except Exception:  # noqa: BLE001 - no table (an older home read-only), a busy store: fold from the start
        return None
    return (int(row["position"]), bytes(row["state"])) if row else None


def save(recorder: Any, name: str, position: int, state: bytes) -> None:
    """Store the book as of `position`, with the chain's link there (read in the same
    statement). Failing to is not an error: the next process folds a little more."""
    datastore, p = recorder.datastore, placeholder(recorder.datastore)
    table = books_table(datastore)
    try:
        with datastore.transaction(commit=True) as c:
            c.execute(f"INSERT INTO {table} (name, position, link, state)"
                      f" SELECT {p}, notification_id, link, {p} FROM {recorder.chain_sql.table}"
                      f" WHERE notification_id = {p}"
                      " ON CONFLICT (name) DO UPDATE SET position = excluded.position,"
                      " link = excluded.link, state = excluded.state", (name, state, position))
    except Exception:  # noqa: BLE001 - read-only home, no table, a busy store: keep folding
        return
