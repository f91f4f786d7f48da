"""`cases deadletter retry` inside the owning service's worker: a parked event the service
never applied is applied once; handed again, nothing happens twice; a message that still
fails says why and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from events.codec import encode
from events.envelope import DomainEvent
from services.bootstrap import build_service
from services.runtime.kafka.deadletters import ParkedMessage, retry_parked
from tests.fixtures import Desk, policy


def parked(event: DomainEvent, offset: int) -> ParkedMessage:
    """The event as the outbox relay publishes it, then as a worker parks it."""
    return ParkedMessage(partition=0, offset=offset, timestamp_ms=0, key=str(event.case_id).encode(),
                         value=encode(event), headers=(
                             ("type", event.type_name.encode()), ("event_id", str(event.event_id).encode()),
                             ("schema_version", str(event.schema_version).encode()),
                             ("dlq_consumer", b"reporting")))


def test_a_parked_event_is_applied_once_by_the_service_that_failed_it(desk: Desk, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    desk.load_policies(policy())
    case_id = desk.open()
    desk.act(desk.rt.records.grant_consent, case_id, "records_access", "portal")
    events = [e for app in ("intake", "records") for e in desk.rt.service(app).stored_events()]
    opened = next(e for e in events if e.type_name == "case_opened" and e.case_id == case_id)
    granted = next(e for e in events if e.type_name == "consent_granted" and e.case_id == case_id)

    # A reporting that never saw this case (its worker parked both events).
    other = tmp_path / "other"
    monkeypatch.setenv("CASES_REPORTING_STORE", "sqlite")  # its own store, not the desk's database
    reporting = build_service("reporting", other)
    try:
        assert retry_parked(reporting, parked(opened, 1)) == {"outcome": "applied"}
        assert retry_parked(reporting, parked(granted, 2)) == {"outcome": "applied"}
        assert retry_parked(reporting, parked(granted, 2)) == {"outcome": "already_applied"}
        # Parked twice (a second dead letter of the same event): still applied once.
        assert retry_parked(reporting, parked(granted, 3)) == {"outcome": "already_applied"}
        history = reporting.views.consent_history(case_id)
        assert [(h["scope"], h["action"]) for h in history] == [("records_access", "granted")]

        broken = parked(granted, 4)
        broken = ParkedMessage(4, 4, 0, broken.key, b"{not json", broken.headers)
        failed = retry_parked(reporting, broken)
        assert failed["outcome"] == "failed" and failed["reason"].startswith("undecodable")
        assert reporting.views.consent_history(case_id) == history
    finally:
        reporting.close()
