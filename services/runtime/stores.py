"""Where each service keeps its event store: a SQLite file under CASES_HOME by default."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOME = Path("var")


def cases_home(explicit: str | Path | None = None) -> Path:
    """--home, else CASES_HOME, else ./var."""
    home = Path(explicit or os.environ.get("CASES_HOME") or DEFAULT_HOME)
    home.mkdir(parents=True, exist_ok=True)
    return home


def store_env(home: Path, service: str) -> dict[str, str]:
    """The eventsourcing environment for one service's own store.

    Each service gets its own SQLite file: no service can read another's store, and
    each could move to its own PostgreSQL database without the others noticing.
    """
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(home / f"{service}.sqlite"),
        "SQLITE_LOCK_TIMEOUT": "30",
    }
