"""The stores the application tests run on: SQLite always, PostgreSQL where configured.

`make test` starts a private PostgreSQL and sets CASES_TEST_PG_DSN, so in CI every
application test runs on both. Each PostgreSQL test gets its own schema, dropped after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

PG_DSN = os.environ.get("CASES_TEST_PG_DSN", "")
STORES = ["sqlite", "postgres"] if PG_DSN else ["sqlite"]


@contextmanager
def store_environment(kind: str) -> Iterator[dict[str, str]]:
    """Environment variables that point the services at a fresh store of this kind."""
    if kind == "sqlite":
        yield {"CASES_STORE": "sqlite"}
        return
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    try:
        yield {"CASES_STORE": "postgres", "CASES_PG_DSN": PG_DSN, "CASES_PG_SCHEMA": schema}
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {schema} CASCADE")
