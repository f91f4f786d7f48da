"""Deleting a store's newest events, chain rows and all, is found by `cases verify` with
nothing written down beforehand: the stores that follow it witness how far it went."""

from __future__ import annotations

from typing import Any

from services.reporting.verify import verify_stores
from tests.fixtures import Desk, policy


def delete_newest(app: Any, count: int) -> list[int]:
    """What an intruder with write access to one store would do: drop its newest events and
    the chain rows that cover them, leaving a shorter but self-consistent chain."""
    recorder = app.recorder
    postgres = "postgres" in type(recorder.datastore).__module__
    newest = recorder.max_notification_id()
    positions = list(range(newest - count + 1, newest + 1))
    chain = recorder.chain_sql.table
    with recorder.datastore.transaction(commit=True) as c:
        for position in positions:
            if postgres:
                c.execute(f"DELETE FROM {chain} WHERE notification_id = %s", (position,))
                c.execute(f"DELETE FROM {recorder.datastore.schema}.{recorder.events_table_name}"
                          " WHERE notification_id = %s",
                          (position,))
            else:
                c.execute(f"DELETE FROM {chain} WHERE notification_id = ?", (position,))
                c.execute("DELETE FROM stored_events WHERE rowid = ?", (position,))
    return positions


def test_the_newest_events_deleted_from_a_store_are_found_without_a_digest(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.to_review(case)
    assert verify_stores(desk.rt.services)["ok"] is True

    delete_newest(desk.rt.records, 2)  # the pack and case_ready_for_review
    result = verify_stores(desk.rt.services)
    assert result["ok"] is False
    truncated = [b for b in result["broken"] if b["problem"].startswith("truncated")]
    assert truncated and {b["service"] for b in truncated} == {"records"}
    assert {b["witness"] for b in truncated} >= {"reporting", "review"}


def test_the_newest_events_of_reporting_are_witnessed_by_intake(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.to_review(case)
    desk.act(desk.rt.review.submit_opinion, case, "confirmed", "Sound", "Dr X")
    desk.act(desk.rt.reporting.deliver_report, case)
    delete_newest(desk.rt.reporting, 1)  # report_delivered, which intake concluded the case on
    result = verify_stores(desk.rt.services)
    assert any(b["service"] == "reporting" and b["witness"] == "intake" for b in result["broken"])
