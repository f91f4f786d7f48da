"""`cases rebuild`: the views rebuilt from the log equal the live ones, and replace them."""

from __future__ import annotations

import os
import sqlite3

import pytest

from services.reporting import rebuild
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


def last_event_first(desk: Desk) -> list:
    """The log with its last event read first, a batch of one each: that event's case gets
    it before all its others (a store whose rows are not in time order)."""
    events = [event for batch in store_batches(desk.rt.services) for event in batch]
    return [[event] for event in [events[-1], *events[:-1]]]


def test_a_log_read_out_of_causal_order_is_checked_without_writing(desk: Desk, store: str) -> None:
    """A case whose last event comes first cannot be folded forward: the check sets it
    aside, folds it whole from a second read of its events, and finds the views equal, so
    nothing is written (it used to rewrite the whole views)."""
    cases = several_cases(desk)
    before = {c: desk.state(c) for c in cases}
    tables = table_identity(desk, store)

    result = rebuild_views(desk.rt.reporting, lambda: last_event_first(desk))

    assert result["equal_to_live"], result["differences"]
    assert not result["rewritten"] and result["cases"] == 3
    assert table_identity(desk, store) == tables
    assert {c: desk.state(c) for c in cases} == before


def test_a_case_opened_read_after_its_consents_still_gives_their_member(desk: Desk, store: str) -> None:
    """The consent rows name the case's member, whom only case_opened names: a log that
    gives a case's case_opened after its consents makes the check refold that case, its
    consent rows included, and find them equal to the live ones."""
    cases = several_cases(desk)
    history = desk.rt.reporting.views.consent_history(cases[0])
    assert history  # the case has consent rows to get right
    items = [item for batch in store_batches(desk.rt.services) for item in batch]
    opened = next(i for i in items if i[0].type_name == "case_opened" and i[0].case_id == cases[0])

    result = rebuild_views(desk.rt.reporting, lambda: [[i] for i in items if i is not opened] + [[opened]])

    assert result["equal_to_live"], result["differences"]
    assert not result["rewritten"]
    assert desk.rt.reporting.views.consent_history(cases[0]) == history


def test_a_drifted_case_read_out_of_causal_order_is_named_and_repaired(desk: Desk, store: str) -> None:
    cases = several_cases(desk)
    last = [item for batch in store_batches(desk.rt.services) for item in batch][-1][0]
    late = str(last.case_id)  # the case whose last event the log gives first
    right = desk.state(last.case_id)
    run_sql(desk, store, "UPDATE {t}case_state SET status = ? WHERE case_id = ?", ("closed", late))
    run_sql(desk, store, "DELETE FROM {t}case_events WHERE event_id = ?", (str(last.event_id),))

    result = rebuild_views(desk.rt.reporting, lambda: last_event_first(desk))

    assert result["differences"] == [f"case {late}: state differs", f"case {late}: trail differs"]
    assert result["rewritten"] and result["cases"] == len(cases)
    assert desk.state(last.case_id) == right
    again = rebuild_views(desk.rt.reporting, lambda: store_batches(desk.rt.services))
    assert again["equal_to_live"] and not again["rewritten"]


def test_more_cases_out_of_order_than_the_check_refolds_go_to_the_write_path(
        desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_REFOLD_CASES (none here), the check does not hold those cases' events: the
    views are written afresh, each such case refolded from the fresh trail, and they still
    equal the live ones."""
    monkeypatch.setattr(rebuild, "MAX_REFOLD_CASES", 0)
    cases = several_cases(desk)
    before = {c: desk.state(c) for c in cases}

    result = rebuild_views(desk.rt.reporting, lambda: last_event_first(desk))

    assert result["equal_to_live"], result["differences"]
    assert result["rewritten"] and result["cases"] == 3
    assert {c: desk.state(c) for c in cases} == before
