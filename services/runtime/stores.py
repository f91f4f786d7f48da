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
from pathlib import Path
from urllib.parse import unquote, urlparse

DEFAULT_HOME = Path("var")


def cases_home(explicit: str | Path | None = None) -> Path:
    """--home, else CASES_HOME, else ./var."""
    home = Path(explicit or os.environ.get("CASES_HOME") or DEFAULT_HOME)
    home.mkdir(parents=True, exist_ok=True)
    return home


def setting(service: str, name: str, default: str = "") -> str:
    return os.environ.get(f"CASES_{service.upper()}_{name}") or os.environ.get(f"CASES_{name}") or default


def store_env(home: Path, service: str) -> dict[str, str]:
    """The eventsourcing environment for one service's own store."""
    kind = setting(service, "STORE", "sqlite")
    if kind == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(home / f"{service}.sqlite"),
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
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_LOCK_TIMEOUT": "10",
    }
