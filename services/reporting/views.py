"""Reporting's read models in its own store, written in the transaction that records
the upstream position (tracking), so a view never misses or double-counts an event.

The same SQL serves SQLite and PostgreSQL; only the placeholder, the binary type and the
schema differ (`ViewSql`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC
from typing import Any
from uuid import UUID

import orjson

from events.codec import decode, encode
from events.envelope import CaseEvent, DomainEvent
from services.reporting.projections.case_state import SERVICE_ORDER, causal_order, fold, fold_forward
from services.reporting.projections.consent_history import consent_row
from services.runtime.stores import is_postgres


class ViewSql:
    """The views' statements for one database."""

    def __init__(self, *, param: str, binary: str, schema: str = "", prefix: str = "reporting_"):
        p, t = param, (f"{schema}." if schema else "") + prefix
        self.param, self.binary, self.schema, self.prefix = param, binary, schema, prefix
        self.tables = [f"{t}{name}" for name in ("case_events", "case_state", "consent_history")]
        self.create = [
            f"CREATE TABLE IF NOT EXISTS {t}case_events (event_id TEXT PRIMARY KEY,"
            " case_id TEXT NOT NULL, occurred_at TEXT NOT NULL, service_rank INTEGER NOT NULL,"
            f" version INTEGER NOT NULL, type TEXT NOT NULL, payload {binary} NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {prefix}case_events_by_case ON {t}case_events (case_id)",
            f"CREATE TABLE IF NOT EXISTS {t}case_state (case_id TEXT PRIMARY KEY,"
            f" status TEXT NOT NULL, state {binary} NOT NULL, last_key TEXT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {prefix}case_state_by_status ON {t}case_state (status)",
            f"CREATE TABLE IF NOT EXISTS {t}consent_history (event_id TEXT PRIMARY KEY,"
            " case_id TEXT NOT NULL, member_ref TEXT, scope TEXT NOT NULL, action TEXT NOT NULL,"
            " at TEXT NOT NULL, actor TEXT NOT NULL, channel TEXT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {prefix}consent_history_by_case ON {t}consent_history (case_id)",
        ]
        # PostgreSQL runs transactions side by side: two that fold the same case (say one from
        # intake's events, one from records') would each write a state the other did not
        # see. One writer of the views at a time (readers are not blocked) makes each fold
        # start from what the previous one committed. SQLite serialises writers itself.
        self.serialise = (f"LOCK TABLE {t}case_state IN EXCLUSIVE MODE" if param == "%s" else None)
        self.insert_event = (f"INSERT INTO {t}case_events VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p})"
                             " ON CONFLICT DO NOTHING")
        self.case_payloads = f"SELECT payload FROM {t}case_events WHERE case_id = {p}"
        self.upsert_state = (f"INSERT INTO {t}case_state VALUES ({p}, {p}, {p}, {p}) ON CONFLICT"
                             " (case_id) DO UPDATE SET status = excluded.status,"
                             " state = excluded.state, last_key = excluded.last_key")
        self.event_exists = f"SELECT 1 FROM {t}case_events WHERE event_id = {p}"
        self.state_and_key = f"SELECT state, last_key FROM {t}case_state WHERE case_id = {p}"
        self.insert_consent = (f"INSERT INTO {t}consent_history VALUES ({p}, {p}, {p}, {p}, {p}, {p},"
                               f" {p}, {p}) ON CONFLICT DO NOTHING")
        self.state_of = f"SELECT state FROM {t}case_state WHERE case_id = {p}"
        self.all_states = f"SELECT case_id, state FROM {t}case_state ORDER BY case_id"
        self.by_status = f"SELECT status, COUNT(*) AS n FROM {t}case_state GROUP BY status"
        self.consents_of = (f"SELECT event_id, case_id, member_ref, scope, action, at, actor, channel"
                            f" FROM {t}consent_history WHERE case_id = {p} ORDER BY at")


def update_views(sql: ViewSql, c: Any, events: Iterable[DomainEvent]) -> None:
    """Add new events to the trail and bring each touched case's state up to date.

    An event that sorts after everything the case already had is folded onto the stored
    state (the usual case); one that arrives out of causal order (possible across
    topics) makes the case refold from its whole trail. Both give what `fold` gives."""
    if sql.serialise is not None and any(isinstance(e, CaseEvent) for e in events):
        c.execute(sql.serialise)
    new: dict[str, list[CaseEvent]] = {}
    for event in events:
        if not isinstance(event, CaseEvent):
            continue
        c.execute(sql.event_exists, (str(event.event_id),))
        if c.fetchone() is not None:
            continue  # already in the views: applying it again would count it twice
        c.execute(sql.insert_event, (
            str(event.event_id), str(event.case_id), event.occurred_at.isoformat(),
            SERVICE_ORDER[event.service], event.originator_version, event.type_name, encode(event)))
        new.setdefault(str(event.case_id), []).append(event)
    for case_id, arrived in new.items():
        arrived.sort(key=causal_order)
        c.execute(sql.state_and_key, (case_id,))
        row = c.fetchone()
        if row is not None and causal_key(arrived[0]) > row["last_key"]:
            state = fold_forward(orjson.loads(bytes(row["state"])), arrived)
            last = causal_key(arrived[-1])
        else:
            c.execute(sql.case_payloads, (case_id,))
            trail = sorted((decode(bytes(r["payload"])) for r in c.fetchall()), key=causal_order)
            state, last = fold(trail), causal_key(trail[-1])
        c.execute(sql.upsert_state, (case_id, state["status"], orjson.dumps(state), last))
        for event in arrived:
            consent = consent_row(event, state.get("member_ref"))
            if consent is not None:
                c.execute(sql.insert_consent, consent)


def causal_key(event: DomainEvent) -> str:
    """`causal_order` as text that sorts the same way, for the database."""
    at = event.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return f"{at}|{SERVICE_ORDER[event.service]}|{event.originator_version:012d}"


def view_sql_for(datastore: Any) -> ViewSql:
    """The views' statements for the database behind a store."""
    if is_postgres(datastore):
        return ViewSql(param="%s", binary="BYTEA", schema=datastore.schema)
    return ViewSql(param="?", binary="BLOB")


class CaseViews:
    """Queries over the views (read-only)."""

    def __init__(self, datastore: Any, sql: ViewSql | None = None):
        self._datastore = datastore
        self.sql = sql or view_sql_for(datastore)
        self._sql = self.sql

    def update(self, cursor: Any, events: Iterable[DomainEvent]) -> None:
        """Bring the views up to date with `events`, in the caller's transaction."""
        update_views(self.sql, cursor, events)

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return list(c.fetchall())

    def case_state(self, case_id: UUID) -> dict[str, Any] | None:
        rows = self._rows(self._sql.state_of, (str(case_id),))
        return orjson.loads(bytes(rows[0]["state"])) if rows else None

    def all_states(self) -> list[dict[str, Any]]:
        return list(self.states_by_case().values())

    def states_by_case(self) -> dict[str, dict[str, Any]]:
        return {case_id: orjson.loads(state) for case_id, state in self.stored_states().items()}

    def stored_states(self) -> dict[str, bytes]:
        """Each case's state as the views store it (orjson's bytes of the fold)."""
        return {r["case_id"]: bytes(r["state"]) for r in self._rows(self._sql.all_states)}

    def count_by_status(self) -> dict[str, int]:
        return {r["status"]: r["n"] for r in self._rows(self._sql.by_status)}

    def audit_trail(self, case_id: UUID) -> list[DomainEvent]:
        rows = self._rows(self._sql.case_payloads, (str(case_id),))
        return sorted((decode(bytes(r["payload"])) for r in rows), key=causal_order)

    def consent_history(self, case_id: UUID) -> list[dict[str, Any]]:
        keys = ("event_id", "case_id", "member_ref", "scope", "action", "at", "actor", "channel")
        return [{k: r[k] for k in keys} for r in self._rows(self._sql.consents_of, (str(case_id),))]
