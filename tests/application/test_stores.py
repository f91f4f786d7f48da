"""Each service's store is the one configured: SQLite files, or PostgreSQL tables."""

from __future__ import annotations

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
