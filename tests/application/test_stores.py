"""Each service's store is the one configured: SQLite files, or PostgreSQL tables."""

from __future__ import annotations

import pytest
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder

from tests.fixtures import Desk, policy


def test_each_service_uses_its_own_store_of_the_configured_kind(desk: Desk, store: str) -> None:
    desk.load_policies(policy())
    case = desk.open()
    for name, app in desk.rt.services.items():
        expected = PostgresProcessRecorder if store == "postgres" else SQLiteProcessRecorder
        assert isinstance(app.recorder, expected), name
        if name != "reporting":  # reporting has recorded views, no events of its own yet
            assert (app.recorder.max_notification_id() or 0) >= 1, name
    assert desk.state(case)["status"] == "awaiting_consent"
    if store == "sqlite":
        assert sorted(p.name for p in desk.home.glob("*.sqlite")) == [
            "intake.sqlite", "records.sqlite", "reporting.sqlite", "review.sqlite"]


@pytest.mark.parametrize("store", ["postgres"], indirect=True)  # `make test` always has one
def test_postgresql_sessions_keep_no_prepared_statements(desk: Desk, store: str) -> None:
    """A write that failed under a concurrent writer once left a session naming a prepared
    statement the server did not have, and that service's next write failed ("prepared
    statement does not exist"). With none prepared, no session can be left so; the stores
    also work behind a pooler that shares sessions (PgBouncer in transaction mode)."""
    desk.load_policies(policy())
    case = desk.open()
    desk.act(desk.rt.records.grant_consent, case, "records_access", "portal")
    assert desk.state(case)["status"] == "collecting_records"
    for name, app in desk.rt.services.items():
        with app.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            prepared = conn.execute("SELECT name FROM pg_prepared_statements").fetchall()
        assert prepared == [], name
