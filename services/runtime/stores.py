"""Where each service keeps its event store: SQLite under CASES_HOME by default, or
PostgreSQL by configuration.

- `CASES_STORE=sqlite` (default): `<home>/<service>.sqlite`, one file per service.
- `CASES_STORE=postgres` with `CASES_PG_DSN=postgresql://user:pass@host:port/db`: each
  service's tables are prefixed with its name (intake_events, records_tracking, ...), so
  the four can share a database or each have its own.
- Per service: `CASES_<SERVICE>_STORE` and `CASES_<SERVICE>_PG_DSN` override the above,
  and `CASES_PG_SCHEMA` (or `CASES_<SERVICE>_PG_SCHEMA`) picks a schema.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

DEFAULT_HOME = Path("var")
#: A session-wide PostgreSQL advisory lock key: "cases" in ASCII. Held while tables are made.
MIGRATION_LOCK = 0x6361736573


class NoStores(Exception):
    """A read found no stores where it looked; it creates none."""


def cases_home(explicit: str | Path | None = None, *, create: bool = True) -> Path:
    """--home, else CASES_HOME, else ./var (made only for a command that writes)."""
    home = Path(explicit or os.environ.get("CASES_HOME") or DEFAULT_HOME)
    if create:
        home.mkdir(parents=True, exist_ok=True)
    return home


def setting(service: str, name: str, default: str = "") -> str:
    return os.environ.get(f"CASES_{service.upper()}_{name}") or os.environ.get(f"CASES_{name}") or default


def store_env(home: Path, service: str, *, readonly: bool = False) -> dict[str, str]:
    """The eventsourcing environment for one service's own store. Read-only, SQLite opens
    the file with mode=ro (and immutable=1 where the folder cannot be written, as on a
    read-only copy of a home): a read then writes nothing, not even a lock file."""
    kind = setting(service, "STORE", "sqlite")
    if kind == "sqlite":
        path = home / f"{service}.sqlite"
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": readonly_uri(path) if readonly else str(path),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    if kind == "postgres":
        return postgres_env(setting(service, "PG_DSN"), setting(service, "PG_SCHEMA"))
    raise ValueError(f"CASES_STORE must be sqlite or postgres, not {kind!r}")


def postgres_env(dsn: str, schema: str = "") -> dict[str, str]:
    if not dsn:
        raise ValueError("CASES_STORE=postgres needs CASES_PG_DSN=postgresql://user:pass@host:port/db")
    url = urlparse(dsn)
    if url.scheme not in ("postgres", "postgresql"):
        raise ValueError("CASES_PG_DSN must be a postgresql:// URL")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/") or "postgres",
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_SCHEMA": schema,
        # One connection kept per service, a few more only while busy: a command is one
        # process with four services, and many may run at once against one database.
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": "3",
        "POSTGRES_LOCK_TIMEOUT": "10",
    }


def readonly_uri(path: Path) -> str:
    if not path.exists():
        raise NoStores(f"no stores in {path.parent}")
    if os.access(path.parent, os.W_OK) and os.access(path, os.W_OK):
        return f"file:{quote(str(path.resolve()))}?mode=ro"
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size:
        # Committed changes still in the write-ahead log of a copied home: read a private
        # copy, since SQLite cannot replay that log without writing beside the store.
        scratch = Path(tempfile.mkdtemp(prefix="cases-ro-"))
        for part in (path, wal):
            shutil.copyfile(part, scratch / part.name)
        path = scratch / path.name
        return f"file:{quote(str(path))}?mode=ro"
    return f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"


def is_postgres(datastore: Any) -> bool:
    """Whether a store's datastore is eventsourcing's PostgreSQL one (else SQLite)."""
    return "postgres" in type(datastore).__module__


def placeholder(datastore: Any) -> str:
    """The SQL parameter placeholder of the store's database."""
    return "%s" if is_postgres(datastore) else "?"


def prepare_store(app: Any, extra_tables: list[str]) -> None:
    """Create the service's tables once: on a store that has them this only looks. On
    PostgreSQL a session advisory lock serialises the first creators (concurrent CREATE
    TABLE IF NOT EXISTS fails there); SQLite serialises them itself."""
    datastore = app.recorder.datastore
    if _has_tables(app, extra_tables):
        return
    if not is_postgres(datastore):
        app.recorder.create_table()
        _create(datastore, extra_tables)
        return
    with datastore.get_connection() as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            if not _has_tables(app, extra_tables):
                app.recorder.create_table()
                _create(datastore, extra_tables)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def _has_tables(app: Any, extra_tables: list[str]) -> bool:
    names = [app.recorder.chain_sql.table, *(_table_of(s) for s in extra_tables if "TABLE" in s)]
    try:
        with app.recorder.datastore.transaction(commit=False) as c:
            for name in names:
                c.execute(f"SELECT 1 FROM {name} WHERE 1 = 0")
    except Exception:  # noqa: BLE001 - any "no such table/relation" means: not made yet
        return False
    return True


def _table_of(statement: str) -> str:
    return statement.split("EXISTS", 1)[1].split("(", 1)[0].strip()


def _create(datastore: Any, statements: list[str]) -> None:
    if statements:
        with datastore.transaction(commit=True) as c:
            for statement in statements:
                c.execute(statement)
