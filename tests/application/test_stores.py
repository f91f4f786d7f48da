"""Each service's store is the one configured: SQLite files, or PostgreSQL tables."""

from __future__ import annotations

from tests.fixtures import Desk, policy


def test_each_service_uses_its_own_store_of_the_configured_kind(desk: Desk, store: str) -> None:
    desk.load_policies(policy())
    case = desk.open()
    for name, app in desk.rt.services.items():
        assert store in type(app.recorder).__mro__[1].__module__ + type(app.recorder).__module__
        if name != "reporting":  # reporting has recorded views, no events of its own yet
            assert (app.recorder.max_notification_id() or 0) >= 1, name
    assert desk.state(case)["status"] == "awaiting_consent"
    if store == "sqlite":
        assert sorted(p.name for p in desk.home.glob("*.sqlite")) == [
            "intake.sqlite", "records.sqlite", "reporting.sqlite", "review.sqlite"]
