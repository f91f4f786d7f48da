"""Reporting's read models in its own store, written in the transaction that records
the upstream position (tracking), so a view never misses or double-counts an event."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteCursor, SQLiteProcessRecorder

from events.codec import decode, encode
from events.envelope import CaseEvent, DomainEvent
from services.reporting.projections.case_state import SERVICE_ORDER, fold
from services.reporting.projections.consent_history import consent_row

VIEW_TABLES = [
    "CREATE TABLE IF NOT EXISTS case_events ("
    " event_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, occurred_at TEXT NOT NULL,"
    " service_rank INTEGER NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL,"
    " payload BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS case_events_by_case ON case_events (case_id, occurred_at)",
    "CREATE TABLE IF NOT EXISTS case_state ("
    " case_id TEXT PRIMARY KEY, status TEXT NOT NULL, state BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS case_state_by_status ON case_state (status)",
    "CREATE TABLE IF NOT EXISTS consent_history ("
    " event_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, member_ref TEXT, scope TEXT NOT NULL,"
    " action TEXT NOT NULL, at TEXT NOT NULL, actor TEXT NOT NULL, channel TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS consent_history_by_case ON consent_history (case_id, at)",
]


class ReportingRecorder(SQLiteProcessRecorder):
    """Process recorder that also updates the views from the events it is given."""

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *VIEW_TABLES]

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        returning = super()._insert_events(c, stored_events, **kwargs)
        update_views(c, kwargs.get("view_events", ()))
        return returning


def update_views(c: Any, events: Iterable[DomainEvent]) -> None:
    touched: set[str] = set()
    for event in events:
        if not isinstance(event, CaseEvent):
            continue
        case_id = str(event.case_id)
        c.execute(
            "INSERT INTO case_events VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (str(event.event_id), case_id, event.occurred_at.isoformat(),
             SERVICE_ORDER[event.service], event.originator_version, event.type_name, encode(event)),
        )
        touched.add(case_id)
    for case_id in touched:
        c.execute("SELECT payload FROM case_events WHERE case_id = ?", (case_id,))
        case_events = [decode(row[0]) for row in c.fetchall()]
        state = fold(case_events)
        c.execute(
            "INSERT INTO case_state VALUES (?, ?, ?) ON CONFLICT (case_id) DO UPDATE"
            " SET status = excluded.status, state = excluded.state",
            (case_id, state["status"], orjson.dumps(state)),
        )
        for event in case_events:
            row = consent_row(event, state.get("member_ref"))
            if row is not None:
                c.execute("INSERT INTO consent_history VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                          " ON CONFLICT DO NOTHING", row)


class CaseViews:
    """Queries over the views (read-only)."""

    def __init__(self, recorder: ReportingRecorder):
        self._datastore = recorder.datastore

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return list(c.fetchall())

    def case_state(self, case_id: UUID) -> dict[str, Any] | None:
        rows = self._rows("SELECT state FROM case_state WHERE case_id = ?", (str(case_id),))
        return orjson.loads(rows[0][0]) if rows else None

    def all_states(self) -> list[dict[str, Any]]:
        return [orjson.loads(r[0]) for r in self._rows("SELECT state FROM case_state ORDER BY case_id")]

    def count_by_status(self) -> dict[str, int]:
        return dict(self._rows("SELECT status, COUNT(*) FROM case_state GROUP BY status"))

    def audit_trail(self, case_id: UUID) -> list[DomainEvent]:
        rows = self._rows("SELECT payload FROM case_events WHERE case_id = ?", (str(case_id),))
        from services.reporting.projections.case_state import causal_order

        return sorted((decode(r[0]) for r in rows), key=causal_order)

    def consent_history(self, case_id: UUID) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT event_id, case_id, member_ref, scope, action, at, actor, channel"
            " FROM consent_history WHERE case_id = ? ORDER BY at", (str(case_id),))
        keys = ("event_id", "case_id", "member_ref", "scope", "action", "at", "actor", "channel")
        return [dict(zip(keys, row)) for row in rows]
