"""The auditor's replay: causal order, as-of states, identifiers redacted."""

from __future__ import annotations

from datetime import timedelta

from services.reporting.replay import case_events, replay
from services.runtime.keystore import is_sealed
from tests.fixtures import Desk, policy


def test_replay_state_as_of_each_step(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.later(hours=1)
    desk.act(desk.rt.records.grant_consent, case, "records_access", "portal")
    consent_time = desk.clock.now()
    desk.later(hours=1)
    desk.act(desk.rt.records.add_record, case, "imaging", "Radiology")
    desk.act(desk.rt.records.complete_records, case)
    desk.later(hours=1)
    desk.act(desk.rt.records.grant_consent, case, "third_party_disclosure", "portal")

    events = case_events(desk.rt.services, case)
    assert replay(events)["state"]["status"] == "in_review"
    assert replay(events, consent_time - timedelta(minutes=1))["state"]["status"] == "awaiting_consent"
    assert replay(events, consent_time + timedelta(minutes=1))["state"]["status"] == "collecting_records"
    assert replay(events, events[0].occurred_at - timedelta(seconds=1))["state"] is None


def test_replay_equals_the_live_view(desk: Desk) -> None:
    desk.load_policies(policy(model="in_house"))
    case = desk.open()
    desk.to_review(case, model="in_house")
    desk.act(desk.rt.review.decline, case, "capacity")
    assert replay(case_events(desk.rt.services, case))["state"] == desk.state(case)


def test_replay_redacts_the_member_identity(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    described = replay(case_events(desk.rt.services, case))["events"]
    identified = next(e for e in described if e["type"] == "member_identified")
    # Sealed under the member's key: the reader's edge shows "[sealed]" or, recorded, the text.
    assert is_sealed(identified["data"]["identity"]["name"])
    assert is_sealed(identified["data"]["identity"]["nhs_number"])
    assert "Jane" not in str(described) and "9434765919" not in str(described)
