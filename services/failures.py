"""Infrastructure that failed under a command, told apart from a bug: the command line exits
3 with it, the HTTP API answers 503. Shared by both edges (services/cli, services/api)."""

from __future__ import annotations

import sys

from services.common.errors import ServiceUnavailable


def infrastructure_failure(error: Exception) -> ServiceUnavailable | None:
    """A store, database or disk that failed under the command, as a clean "unavailable"
    with a message that names the kind of failure and never quotes data. Any transaction
    that failed rolled back whole, so nothing was half-recorded. None: not infrastructure."""
    from eventsourcing.persistence import PersistenceError

    from services.runtime.application import StoreBusy

    if isinstance(error, ServiceUnavailable):
        return error
    if isinstance(error, StoreBusy):
        return ServiceUnavailable(str(error))
    from services.runtime.kafka.config import MissingCredentials

    if isinstance(error, MissingCredentials):  # a service's Kafka credentials are not here
        return ServiceUnavailable(str(error))
    import sqlite3

    database_errors: tuple[type[Exception], ...] = (PersistenceError, sqlite3.Error)
    if "psycopg" in sys.modules:
        database_errors += (sys.modules["psycopg"].Error,)
    if isinstance(error, database_errors):
        text = str(error).lower()
        if "readonly" in text or "read-only" in text or "unable to open" in text:
            return ServiceUnavailable("a store is read-only; this command records changes")
        if "locked" in text or "busy" in text or "timeout" in text:
            return ServiceUnavailable("a store is busy with other writers; nothing was recorded, try again")
        if "connect" in text or "connection" in text:
            return ServiceUnavailable("the database cannot be reached")
        return ServiceUnavailable("a store could not be used; nothing was recorded")
    if isinstance(error, OSError):
        return ServiceUnavailable(f"the disk refused: {error.strerror or 'an input/output error'}")
    return None
