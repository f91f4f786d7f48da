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
    result = rebuild_views(desk.rt.reporting, lambda: store_batches(desk.rt.services))
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
    result = rebuild_views(desk.rt.reporting, lambda: store_batches(desk.rt.services))
    assert not result["equal_to_live"]
    assert result["differences"] == [f"case {cases[1]}: state differs"]
    assert desk.state(cases[1])["status"] == "suspended"


def run_sql(desk: Desk, store: str, statement: str, params: tuple = ()) -> list:
    """A statement straight on reporting's store (as someone editing the views would);
    `{t}` is the views' table prefix, `?` the placeholder."""
    if store == "sqlite":
        with sqlite3.connect(desk.home / "reporting.sqlite") as db:
            return db.execute(statement.format(t="reporting_"), params).fetchall()
    import psycopg

    prefix = f"{os.environ['CASES_PG_SCHEMA']}.reporting_"
    with psycopg.connect(os.environ["CASES_PG_DSN"], autocommit=True) as db:
        cursor = db.execute(statement.format(t=prefix).replace("?", "%s"), params)
        return cursor.fetchall() if cursor.description else []


def table_identity(desk: Desk, store: str) -> list:
    """Which tables hold the live views: a rebuild that swaps makes new ones."""
    if store == "sqlite":
        return run_sql(desk, store, "SELECT name, rootpage FROM sqlite_master WHERE name LIKE 'reporting_%' ORDER BY name")
    return run_sql(desk, store, "SELECT '{t}case_events'::regclass::oid, '{t}case_state'::regclass::oid,"
                                " '{t}consent_history'::regclass::oid")


def test_views_equal_to_the_log_are_left_in_place(desk: Desk, store: str) -> None:
    several_cases(desk)
    before = table_identity(desk, store)
    result = rebuild_views(desk.rt.reporting, lambda: store_batches(desk.rt.services))
    assert result["equal_to_live"] and not result["rewritten"]
    assert table_identity(desk, store) == before


def test_a_drifted_trail_or_consent_history_is_reported_and_repaired(desk: Desk, store: str) -> None:
    cases = several_cases(desk)
    trail = [e.event_id for e in desk.rt.reporting.views.audit_trail(cases[0])]
    history = desk.rt.reporting.views.consent_history(cases[0])
    run_sql(desk, store, "DELETE FROM {t}case_events WHERE event_id = ?", (str(trail[3]),))
    run_sql(desk, store, "UPDATE {t}consent_history SET actor = ? WHERE case_id = ?", ("someone", str(cases[0])))
    before = table_identity(desk, store)
    result = rebuild_views(desk.rt.reporting, lambda: store_batches(desk.rt.services))
    assert result["differences"] == sorted([f"case {cases[0]}: trail differs",
                                            f"case {cases[0]}: consent history differs"])
    assert not result["equal_to_live"] and result["rewritten"]
    assert table_identity(desk, store) != before
    assert [e.event_id for e in desk.rt.reporting.views.audit_trail(cases[0])] == trail
    assert desk.rt.reporting.views.consent_history(cases[0]) == history
    again = rebuild_views(desk.rt.reporting, lambda: store_batches(desk.rt.services))
    assert again["equal_to_live"] and not again["rewritten"]


def test_a_log_read_out_of_causal_order_still_rebuilds_the_same_views(desk: Desk) -> None:
    """A case whose last event comes first (a stream out of order) cannot be checked by
    folding forward: the rebuild writes the views afresh, refolding that case from its
    trail, and they still equal the live ones."""
    cases = several_cases(desk)
    before = {c: desk.state(c) for c in cases}

    def last_event_first() -> list:
        events = [event for batch in store_batches(desk.rt.services) for event in batch]
        return [[event] for event in [events[-1], *events[:-1]]]

    result = rebuild_views(desk.rt.reporting, last_event_first)
    assert result["equal_to_live"], result["differences"]
    assert result["rewritten"] and result["cases"] == 3
    assert {c: desk.state(c) for c in cases} == before
