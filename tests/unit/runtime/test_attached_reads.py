"""Replay's one-statement read across the SQLite stores: the same events the recorders
give, and never a stale read of a home made afresh at the same path."""

from __future__ import annotations

import shutil
from pathlib import Path
from uuid import UUID

import pytest

from events.envelope import DomainEvent
from services.reporting.projections.case_state import causal_order
from services.reporting.replay import case_events
from services.runtime.attached import stream_rows
from tests.fixtures import Desk, policy


def through_the_recorders(desk: Desk, case: UUID) -> list[DomainEvent]:
    return sorted((app.decode(stored) for app in desk.rt.services.values()
                   for stored in app.recorder.select_events(case)), key=causal_order)


def test_the_attached_read_gives_what_the_recorders_give(desk: Desk, store: str) -> None:
    desk.load_policies(policy(model="in_house"))
    case = desk.open()
    desk.to_review(case, model="in_house")

    rows = stream_rows(desk.rt.services, case)
    assert (rows is None) == (store != "sqlite")  # PostgreSQL stores are read through the recorders
    events = case_events(desk.rt.services, case)
    assert [e.event_id for e in events] == [e.event_id for e in through_the_recorders(desk, case)]
    assert {e.service for e in events} >= {"intake", "records", "review"}


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_a_home_made_afresh_at_the_same_path_is_read_afresh(tmp_path: Path, store: str) -> None:
    home = tmp_path / "home"
    first = Desk(home)
    first.load_policies(policy())
    old_case = first.open()
    assert stream_rows(first.rt.services, old_case)  # read, and its connection kept
    first.close()

    shutil.rmtree(home)
    second = Desk(home)
    try:
        second.load_policies(policy())
        new_case = second.open()
        assert stream_rows(second.rt.services, old_case) == []  # not the deleted store's rows
        assert {service for service, _, _ in stream_rows(second.rt.services, new_case) or []} >= {"intake"}
    finally:
        second.close()
