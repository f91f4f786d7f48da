"""A third-party case from request to closure, as the services see it."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from services.common.context import LONDON
from services.common.errors import Refused
from tests.fixtures import Desk, policy


def test_third_party_case_walks_from_request_to_closure(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    assert desk.state(case)["status"] == "awaiting_consent"

    # Nothing is collected before the member's records_access consent.
    with pytest.raises(Refused) as refused:
        desk.act(desk.rt.records.add_record, case, "imaging", "Hospital radiology")
    assert refused.value.code == "consent_required"

    desk.act(desk.rt.records.grant_consent, case, "records_access", "portal")
    assert desk.state(case)["status"] == "collecting_records"
    desk.act(desk.rt.records.add_record, case, "imaging", "Hospital radiology")
    desk.act(desk.rt.records.complete_records, case)

    # third_party waits for the member's disclosure consent.
    state = desk.state(case)
    assert state["status"] == "collecting_records" and state["records_complete"]
    with pytest.raises(Refused):
        desk.act(desk.rt.review.submit_opinion, case, "confirmed", "x", "Dr X")

    desk.later(days=1)  # Friday 13 June 2025
    desk.act(desk.rt.records.grant_consent, case, "third_party_disclosure", "portal")
    state = desk.state(case)
    assert state["status"] == "in_review"
    assert state["review"]["started_on"] == "2025-06-13"
    assert state["review_due"] == "2025-06-27"  # 10 working days after Friday 13 June
    assert state["review"]["partner"] == "medexpert"

    with pytest.raises(Refused) as refused:
        desk.act(desk.rt.reporting.deliver_report, case)
    assert refused.value.code == "opinion_not_in"

    desk.later(days=4)
    desk.act(desk.rt.review.submit_opinion, case, "alternative_treatment", "Try physiotherapy first", "Dr Expert")
    state = desk.state(case)
    assert state["status"] == "in_review"
    assert state["opinion"]["outcome"] == "alternative_treatment"
    assert state["opinion"]["working_days_used"] == 2 and state["opinion"]["sla_met"]

    desk.act(desk.rt.records.grant_consent, case, "share_with_gp", "portal")
    desk.act(desk.rt.reporting.deliver_report, case)
    state = desk.state(case)
    assert state["status"] == "report_issued"
    assert state["report_recipients"] == ["member", "gp"]
    assert state["sla_breached"] is False

    desk.act(desk.rt.reporting.close_case, case, "report_issued")
    assert desk.state(case)["status"] == "closed"


def test_every_disclosure_names_the_consent_that_allowed_it(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.to_review(case)
    desk.act(desk.rt.review.submit_opinion, case, "confirmed", "Agree", "Dr Expert")
    desk.act(desk.rt.records.grant_consent, case, "share_with_gp", "portal")
    desk.act(desk.rt.reporting.deliver_report, case)

    trail = desk.rt.reporting.views.audit_trail(case)
    grants = {e.scope: e.event_id for e in trail if e.type_name == "consent_granted"}
    by_type = {e.type_name: e for e in trail}
    assert by_type["record_received"].consent_event_id == grants["records_access"]
    assert by_type["review_pack_prepared"].consent_event_id == grants["third_party_disclosure"]
    assert by_type["network_referral_sent"].consent_event_id == grants["third_party_disclosure"]
    gp = [d for d in by_type["report_delivered"].deliveries if d.recipient == "gp"]
    assert gp[0].consent_event_id == grants["share_with_gp"]


def test_in_house_case_is_assigned_a_reviewer_of_its_specialty(desk: Desk) -> None:
    desk.load_policies(policy(model="in_house"))
    case = desk.open()
    desk.to_review(case, model="in_house")
    review = desk.state(case)["review"]
    assert review["route"] == "in_house_queue"
    assert review["reviewer"] in ("Dr Able", "Dr Baker")


def test_further_consultation_books_and_attends_an_appointment(desk: Desk) -> None:
    desk.load_policies(policy(model="further_consultation"))
    case = desk.open()
    desk.to_review(case, model="further_consultation")
    review = desk.state(case)["review"]
    assert review["appointment"]["with"] == "Mr Carter FRCS"
    assert review["appointment"]["attended"] is False
    desk.later(days=3)
    with pytest.raises(Refused, match="appointment is on"):  # not before the appointment day
        desk.act(desk.rt.review.attend_appointment, case)
    desk.clock.set(datetime.combine(date.fromisoformat(review["appointment"]["on"]), time(10), LONDON))
    desk.act(desk.rt.review.attend_appointment, case)
    assert desk.state(case)["review"]["appointment"]["attended"] is True
    desk.act(desk.rt.review.submit_opinion, case, "confirmed", "Surgery is right", "Mr Carter FRCS")
    assert desk.state(case)["opinion"]["reviewer"] == "Mr Carter FRCS"


def test_a_policy_reload_applies_to_cases_opened_afterwards(desk: Desk) -> None:
    desk.load_policies(policy())
    first = desk.open()
    desk.load_policies(policy(status="lapsed"))
    second = desk.open()
    assert desk.state(first)["status"] == "awaiting_consent"
    assert desk.state(second)["eligibility"]["reasons"] == ["policy_not_in_force"]
    terms, version = desk.rt.intake.policy_terms("AXA-100234")
    assert version == 2 and terms.status == "lapsed"
