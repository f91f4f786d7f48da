"""`cases rebuild`: the views rebuilt from the log equal the live ones, and replace them."""

from __future__ import annotations

import os
import sqlite3

from services.reporting.rebuild import rebuild_views, store_batches
from tests.fixtures import Desk, policy, request


def several_cases(desk: Desk) -> list:
    desk.load_policies(policy(), policy(number="BUPA-1", model="in_house"))
    third_party = desk.open()
    desk.to_review(third_party)
    desk.act(desk.rt.review.submit_opinion, third_party, "confirmed", "Agree", "Dr X")
    desk.act(desk.rt.records.grant_consent, third_party, "share_with_gp", "portal")
    desk.act(desk.rt.reporting.deliver_report, third_party)
    in_house = desk.open(request(policy_number="BUPA-1"))
    desk.to_review(in_house, model="in_house")
    desk.act(desk.rt.records.withdraw_consent, in_house, "records_access", "phone")
    declined = desk.open(request(policy_number="NOPE"))
    return [third_party, in_house, declined]


def test_rebuilt_views_equal_the_live_views(desk: Desk) -> None:
    cases = several_cases(desk)
    before = {c: desk.state(c) for c in cases}
    trails = {c: [e.event_id for e in desk.rt.reporting.views.audit_trail(c)] for c in cases}
    history = {c: desk.rt.reporting.views.consent_history(c) for c in cases}
    result = rebuild_views(desk.rt.reporting, store_batches(desk.rt.services))
    assert result["equal_to_live"] and result["differences"] == []
    assert result["cases"] == 3
    assert {c: desk.state(c) for c in cases} == before
    assert {c: [e.event_id for e in desk.rt.reporting.views.audit_trail(c)] for c in cases} == trails
    assert {c: desk.rt.reporting.views.consent_history(c) for c in cases} == history
    # The service goes on working on the swapped-in views.
    desk.act(desk.rt.reporting.close_case, cases[0], "report_issued")
    assert desk.state(cases[0])["status"] == "closed"


def test_a_drifted_view_is_reported_and_repaired(desk: Desk, store: str) -> None:
    cases = several_cases(desk)
    if store == "sqlite":
        with sqlite3.connect(desk.home / "reporting.sqlite") as db:
            db.execute("UPDATE reporting_case_state SET state = ? WHERE case_id = ?",
                       (b'{"status": "closed"}', str(cases[1])))
    else:
        import psycopg

        table = f"{os.environ['CASES_PG_SCHEMA']}.reporting_case_state"
        with psycopg.connect(os.environ["CASES_PG_DSN"], autocommit=True) as db:
            db.execute(f"UPDATE {table} SET state = %s WHERE case_id = %s",
                       (b'{"status": "closed"}', str(cases[1])))
    result = rebuild_views(desk.rt.reporting, store_batches(desk.rt.services))
    assert not result["equal_to_live"]
    assert result["differences"] == [f"case {cases[1]}: state differs"]
    assert desk.state(cases[1])["status"] == "suspended"
