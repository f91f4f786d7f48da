"""Which of a service's running instances publishes its outbox and runs its timer.

Two relays publishing the same outbox would send every event twice (consumers drop the
repeats, but the topic doubles), and two SLA clocks would flag a breach twice. So each
service has one lease, held in its own store, by whichever instance takes it first:

- PostgreSQL: a session advisory lock on a connection of its own; the server frees it the
  moment that connection goes, so a killed holder hands over at once.
- SQLite: an exclusive `flock` on a file beside the store; the kernel frees it when the
  holder's process ends, however it ends.

A paused holder (SIGSTOP) keeps its lease: the outbox waits for it, nothing is lost, and no
other relay races it. Every other instance asks again on each step, which costs one
non-blocking call.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import time
from typing import Any, BinaryIO

from services.runtime.stores import is_postgres

log = logging.getLogger("cases.lease")
#: How often a holder on PostgreSQL checks that its connection (hence its lock) still lives.
CHECK_SECONDS = 5.0


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for pg_try_advisory_lock, from the lease's name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class FileLease:
    def __init__(self, path: str):
        self.path = path
        self.file: BinaryIO | None = None

    def held(self) -> bool:
        if self.file is not None:
            return True
        handle = open(self.path, "ab")  # noqa: SIM115 - kept open for as long as the lease is held
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self.file = handle
        return True

    def release(self) -> None:
        if self.file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self.file.fileno(), fcntl.LOCK_UN)
            self.file.close()
            self.file = None


class AdvisoryLease:
    def __init__(self, connect: dict[str, Any], name: str):
        self.connect = connect
        self.key = lock_key(name)
        self.connection: Any = None
        self.next_check = 0.0
        self.next_try = 0.0

    def held(self) -> bool:
        if self.connection is not None:
            if time.monotonic() < self.next_check:
                return True
            self.next_check = time.monotonic() + CHECK_SECONDS
            try:
                self.connection.execute("SELECT 1")
                return True
            except Exception:  # noqa: BLE001 - the connection, hence the lock, is gone
                log.warning("lost the store connection that held the lease")
                self.release()
                return False
        if time.monotonic() < self.next_try:
            return False
        self.next_try = time.monotonic() + 1.0  # one attempt a second is enough to take over
        import psycopg

        try:
            connection = psycopg.connect(**self.connect, autocommit=True, connect_timeout=5)
        except Exception:  # noqa: BLE001 - the store is away: not the holder for now
            return False
        try:
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except Exception:  # noqa: BLE001
            connection.close()
            return False
        if not (row and row[0]):
            connection.close()
            return False
        self.connection = connection
        self.next_check = time.monotonic() + CHECK_SECONDS
        return True

    def release(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.close()  # the server frees the lock with the session
            self.connection = None


class ServiceLease:
    """`held()` is true while this process is the service's one relay and timer."""

    def __init__(self, app: Any):
        datastore = app.recorder.datastore
        self.name = app.name
        if is_postgres(datastore):
            params = {k: v for k, v in datastore.pool.kwargs.items()
                      if k in ("dbname", "host", "port", "user", "password")}
            self.lease: FileLease | AdvisoryLease = AdvisoryLease(
                params, f"cases-lease:{datastore.schema}:{app.name}")
        else:
            self.lease = FileLease(os.fspath(datastore.pool.db_name) + ".lease")
        self.holding = False

    def held(self) -> bool:
        now = self.lease.held()
        if now != self.holding:
            log.info("%s: %s the relay and timer lease", self.name, "took" if now else "lost")
            self.holding = now
        return now

    def release(self) -> None:
        self.lease.release()
        self.holding = False
