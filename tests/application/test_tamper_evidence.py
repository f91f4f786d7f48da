"""`cases verify`: an edited, a deleted, a swapped or an inserted stored event is named."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

import pytest

from services.reporting.verify import verify_stores
from tests.fixtures import Desk, policy


def walked_case(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.to_review(case)
    desk.act(desk.rt.review.submit_opinion, case, "confirmed", "Agree", "Dr X")
    desk.act(desk.rt.reporting.deliver_report, case)


def tamper(desk: Desk, store: str, service: str, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Change a service's stored events behind its back, as an intruder with database access would."""
    if store == "sqlite":
        with sqlite3.connect(desk.home / f"{service}.sqlite") as db:
            db.execute(sql.replace("%s", "?").format(events="stored_events"), params)
        return
    import psycopg

    schema = os.environ["CASES_PG_SCHEMA"]
    with psycopg.connect(os.environ["CASES_PG_DSN"], autocommit=True) as db:
        db.execute(sql.format(events=f"{schema}.{service}_events"), params)


def findings(desk: Desk, expect: str | None = None) -> dict[str, Any]:
    desk.close()  # a fresh look at the stores, as `cases verify` in its own process
    desk.rt = type(desk.rt)(desk.home, desk.clock)
    return verify_stores(desk.rt.services, expect)


def test_an_untouched_log_verifies_and_has_a_head_digest(desk: Desk) -> None:
    walked_case(desk)
    result = verify_stores(desk.rt.services)
    assert result["ok"] and result["broken"] == []
    assert result["events"] == 24  # 5 intake, 9 records (the file concluded), 8 review (the pack kept), 2 reporting
    assert {part.split(":")[0] for part in result["head"].split(",")} == {
        "intake", "records", "review", "reporting"}


def test_an_edited_event_is_named(desk: Desk, store: str) -> None:
    walked_case(desk)
    tamper(desk, store, "records",
           "UPDATE {events} SET state = %s WHERE topic = 'record_received'",
           (b'{"type": "record_received", "kind": "imaging", "source": "forged"}',))
    result = findings(desk)
    assert not result["ok"]
    [finding] = result["broken"]
    assert finding["service"] == "records" and finding["type"] == "record_received"
    assert finding["problem"].startswith("edited")


def test_a_deleted_event_is_named(desk: Desk, store: str) -> None:
    walked_case(desk)
    tamper(desk, store, "review", "DELETE FROM {events} WHERE topic = 'opinion_submitted'")
    [finding] = findings(desk)["broken"]
    assert finding["service"] == "review" and finding["type"] == "opinion_submitted"
    assert finding["problem"].startswith("deleted")


def test_swapped_events_are_named(desk: Desk, store: str) -> None:
    walked_case(desk)
    # Swap the payloads of the first two consent grants.
    if store == "sqlite":
        with sqlite3.connect(desk.home / "records.sqlite") as db:
            rows = db.execute("SELECT rowid, state FROM stored_events WHERE topic = 'consent_granted'"
                              " ORDER BY rowid").fetchall()
            (a, state_a), (b, state_b) = rows[0], rows[1]
            db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (state_b, a))
            db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (state_a, b))
    else:
        import psycopg

        table = f"{os.environ['CASES_PG_SCHEMA']}.records_events"
        with psycopg.connect(os.environ["CASES_PG_DSN"], autocommit=True) as db:
            rows = db.execute(f"SELECT notification_id, state FROM {table}"
                              " WHERE topic = 'consent_granted' ORDER BY notification_id").fetchall()
            (a, state_a), (b, state_b) = rows[0], rows[1]
            db.execute(f"UPDATE {table} SET state = %s WHERE notification_id = %s", (state_b, a))
            db.execute(f"UPDATE {table} SET state = %s WHERE notification_id = %s", (state_a, b))
    broken = findings(desk)["broken"]
    assert [f["service"] for f in broken] == ["records", "records"]
    assert all(f["type"] == "consent_granted" for f in broken)
    assert all(f["problem"].startswith(("edited", "swapped")) for f in broken)


def test_an_event_inserted_outside_the_service_is_named(desk: Desk, store: str) -> None:
    walked_case(desk)
    if store == "sqlite":
        with sqlite3.connect(desk.home / "intake.sqlite") as db:
            db.execute("INSERT INTO stored_events (originator_id, originator_version, topic, state)"
                       " VALUES (?, 1, 'case_cancelled', ?)", ("a" * 32, b"{}"))
    else:
        import psycopg

        table = f"{os.environ['CASES_PG_SCHEMA']}.intake_events"
        with psycopg.connect(os.environ["CASES_PG_DSN"], autocommit=True) as db:
            db.execute(f"INSERT INTO {table} (originator_id, originator_version, topic, state)"
                       " VALUES (gen_random_uuid(), 1, 'case_cancelled', %s)", (b"{}",))
    [finding] = findings(desk)["broken"]
    assert finding["service"] == "intake" and finding["problem"].startswith("inserted")


def test_a_head_digest_written_down_still_checks_after_more_events(desk: Desk) -> None:
    walked_case(desk)
    digest = verify_stores(desk.rt.services)["head"]
    desk.open()  # more events later
    assert verify_stores(desk.rt.services, expect=digest)["ok"]
    forged = digest.replace(digest.split(",")[0].split(":")[2], "0" * 16)
    result = verify_stores(desk.rt.services, expect=forged)
    assert not result["ok"] and "expected digest" in result["broken"][0]["problem"]


@pytest.mark.parametrize("service", ["intake", "records", "review", "reporting"])
def test_every_store_keeps_a_chain(desk: Desk, service: str) -> None:
    walked_case(desk)
    app = desk.rt.services[service]
    recorder: Any = app.recorder
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(recorder.chain_sql.select_all)
        assert len(c.fetchall()) == (app.recorder.max_notification_id() or 0)
