"""Every unhappy path of issue #2, each as a user of the case service would notice it."""

from __future__ import annotations

import pytest

from services.common.errors import Refused
from tests.fixtures import Desk, policy, request


def test_declined_case_is_recorded_with_all_its_reasons(desk: Desk) -> None:
    desk.load_policies(policy(status="lapsed", exclusions=["M75"]))
    case = desk.open()
    state = desk.state(case)
    assert state["status"] == "declined"
    assert state["model"] is None
    assert state["eligibility"]["reasons"] == ["policy_not_in_force", "excluded_condition"]
    assert state["eligibility"]["rule_version"]


def test_commands_on_a_declined_case_are_refused(desk: Desk) -> None:
    desk.load_policies(policy(included=False))
    case = desk.open()
    with pytest.raises(Refused):
        desk.act(desk.rt.records.grant_consent, case, "records_access", "portal")
    with pytest.raises(Refused):
        desk.act(desk.rt.review.submit_opinion, case, "confirmed", "x", "Dr X")
    with pytest.raises(Refused) as refused:
        desk.act(desk.rt.intake.cancel_case, case, "changed mind", "member")
    assert refused.value.code == "case_declined"
    assert desk.types(case)[-1] == "case_file_closed"


def test_consent_withdrawn_during_collection_suspends_the_case(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.act(desk.rt.records.grant_consent, case, "records_access", "portal")
    desk.act(desk.rt.records.add_record, case, "imaging", "Hospital radiology")
    desk.act(desk.rt.records.withdraw_consent, case, "records_access", "phone")
    state = desk.state(case)
    assert state["status"] == "suspended"
    assert state["suspended_reason"] == "consent_withdrawn"
    assert state["consents"] == []
    with pytest.raises(Refused) as refused:
        desk.act(desk.rt.records.add_record, case, "pathology", "Hospital lab")
    assert refused.value.code == "consent_required"

    desk.act(desk.rt.records.grant_consent, case, "records_access", "phone")
    assert desk.state(case)["status"] == "collecting_records"


def test_disclosure_withdrawn_during_review_recalls_the_pack_and_suspends(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.to_review(case)
    desk.later(days=1)
    desk.act(desk.rt.records.withdraw_consent, case, "third_party_disclosure", "phone")
    state = desk.state(case)
    assert state["status"] == "suspended"
    assert "review_pack_recalled" in desk.types(case)
    assert "network_referral_withdrawn" in desk.types(case)
    assert state["review"]["pack_released"] is False
    with pytest.raises(Refused) as refused:
        desk.act(desk.rt.review.submit_opinion, case, "confirmed", "x", "Dr X")
    assert refused.value.code == "review_suspended"

    # Consent again four days later: a fresh pack, the clock resumes where it stopped.
    desk.later(days=4)  # Tuesday 17 June
    desk.act(desk.rt.records.grant_consent, case, "third_party_disclosure", "phone")
    state = desk.state(case)
    assert state["status"] == "in_review"
    assert desk.types(case).count("review_pack_prepared") == 2
    assert desk.types(case).count("network_referral_sent") == 2
    # Started Thu 12 June, suspended Fri 13 June after 1 working day: 9 left from Tue 17 June.
    assert state["review_due"] == "2025-06-30"


def test_records_access_withdrawn_during_in_house_review_suspends_it(desk: Desk) -> None:
    desk.load_policies(policy(model="in_house"))
    case = desk.open()
    desk.to_review(case, model="in_house")
    desk.act(desk.rt.records.withdraw_consent, case, "records_access", "letter")
    assert desk.state(case)["status"] == "suspended"
    assert desk.types(case)[-1] == "review_suspended"


def test_withdrawing_a_consent_not_in_force_is_refused(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    with pytest.raises(Refused) as refused:
        desk.act(desk.rt.records.withdraw_consent, case, "share_with_gp", "phone")
    assert refused.value.code == "consent_not_in_force"


def test_records_unobtainable_suspends_until_the_member_supplies_a_copy(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.act(desk.rt.records.grant_consent, case, "records_access", "portal")
    desk.act(desk.rt.records.request_records, case, "gp_summary", "Registered GP")
    desk.act(desk.rt.records.mark_unobtainable, case, "Registered GP", "practice closed")
    state = desk.state(case)
    assert state["status"] == "suspended"
    assert state["suspended_reason"] == "records_unobtainable"
    with pytest.raises(Refused) as refused:
        desk.act(desk.rt.records.complete_records, case)
    assert refused.value.code == "no_records_received"

    desk.act(desk.rt.records.add_record, case, "gp_summary", "Member's own copy")
    assert desk.state(case)["status"] == "collecting_records"


def test_reviewer_who_declines_is_replaced_by_another(desk: Desk) -> None:
    desk.load_policies(policy(model="in_house"))
    case = desk.open()
    desk.to_review(case, model="in_house")
    first = desk.state(case)["review"]["reviewer"]
    desk.act(desk.rt.review.decline, case, "capacity")
    second = desk.state(case)["review"]["reviewer"]
    assert second is not None and second != first
    assert desk.types(case)[-2:] == ["reviewer_declined", "reviewer_assigned"]


def test_reviewer_with_a_conflict_of_interest_is_replaced_then_the_queue_waits(desk: Desk) -> None:
    desk.load_policies(policy(model="in_house"))
    case = desk.open()
    desk.to_review(case, model="in_house")
    desk.act(desk.rt.review.declare_conflict, case, "treated the member privately")
    assert desk.state(case)["review"]["reviewer"] is not None
    desk.act(desk.rt.review.declare_conflict, case, "same practice as the treating surgeon")
    review = desk.state(case)["review"]
    assert review["reviewer"] is None and review["waiting_for_reviewer"] is True
    assert desk.types(case)[-1] == "no_reviewer_available"


def test_overdue_review_is_flagged_as_breached(desk: Desk) -> None:
    desk.load_policies(policy(sla_working_days=5))
    case = desk.open()
    desk.to_review(case)  # started Thursday 12 June, due Thursday 19 June
    assert desk.state(case)["review_due"] == "2025-06-19"
    desk.later(days=7)  # Thursday 19 June: due today, not yet late
    desk.rt.flag_overdue_reviews()
    assert desk.state(case)["sla_breached"] is False
    desk.later(days=1)
    desk.rt.flag_overdue_reviews()
    desk.rt.flag_overdue_reviews()
    assert desk.state(case)["sla_breached"] is True
    assert desk.types(case).count("review_sla_breached") == 1
    desk.act(desk.rt.review.submit_opinion, case, "confirmed", "Late but sound", "Dr X")
    opinion = desk.state(case)["opinion"]
    assert opinion["sla_met"] is False and opinion["working_days_used"] == 6


def test_a_running_clock_flags_reviews_started_after_its_first_tick(desk: Desk) -> None:
    """The review service keeps its SLA clock from its log, reading only what is new at
    each tick (a worker ticks every minute for months): reviews started, answered or
    waiting after the clock was first read are counted as a fresh read would count them."""
    desk.load_policies(policy(sla_working_days=5), policy(number="BUPA-2", sla_working_days=5))
    desk.rt.flag_overdue_reviews()  # the clock's first read: no review yet
    late = desk.open()
    answered = desk.open(request(policy_number="BUPA-2"))
    desk.to_review(late)
    desk.to_review(answered)
    desk.rt.flag_overdue_reviews()
    assert set(desk.rt.review.running_reviews()) == {late, answered}
    desk.act(desk.rt.review.submit_opinion, answered, "confirmed", "In time", "Dr X")
    desk.later(days=8)
    desk.rt.flag_overdue_reviews()
    assert desk.types(late).count("review_sla_breached") == 1
    assert "review_sla_breached" not in desk.types(answered)
    assert desk.rt.review.running_reviews() == {}  # one breached, one answered


def test_member_cancelling_stops_review_and_recalls_the_pack(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.to_review(case)
    desk.act(desk.rt.intake.cancel_case, case, "chose NHS treatment", "member")
    state = desk.state(case)
    assert state["status"] == "cancelled"
    types = desk.types(case)
    assert {"review_pack_recalled", "network_referral_withdrawn", "review_stopped", "case_file_closed"} <= set(types)
    with pytest.raises(Refused):
        desk.act(desk.rt.records.grant_consent, case, "share_with_gp", "portal")
    with pytest.raises(Refused):
        desk.act(desk.rt.review.submit_opinion, case, "confirmed", "x", "Dr X")
    with pytest.raises(Refused) as refused:
        desk.act(desk.rt.intake.cancel_case, case, "again", "member")
    assert refused.value.code == "case_cancelled"


def test_report_goes_to_gp_only_while_share_with_gp_is_in_force(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.to_review(case)
    desk.act(desk.rt.records.grant_consent, case, "share_with_gp", "portal")
    desk.act(desk.rt.review.submit_opinion, case, "diagnosis_changed", "Partial tear only", "Dr X")
    desk.act(desk.rt.records.withdraw_consent, case, "share_with_gp", "phone")
    desk.act(desk.rt.reporting.deliver_report, case)
    state = desk.state(case)
    assert state["report_recipients"] == ["member"]
    assert state["report"]["gp_withheld"] == "no_consent"


def test_report_without_a_gp_on_file_goes_to_the_member_only(desk: Desk) -> None:
    desk.load_policies(policy())
    req = request()
    del req["gp"]
    case = desk.open(req)
    desk.to_review(case)
    desk.act(desk.rt.records.grant_consent, case, "share_with_gp", "portal")
    desk.act(desk.rt.review.submit_opinion, case, "confirmed", "Agree", "Dr X")
    desk.act(desk.rt.reporting.deliver_report, case)
    assert desk.state(case)["report_recipients"] == ["member"]


def test_report_cannot_go_out_twice_nor_case_be_cancelled_after(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.to_review(case)
    desk.act(desk.rt.review.submit_opinion, case, "inconclusive", "Needs biopsy", "Dr X")
    desk.act(desk.rt.reporting.deliver_report, case)
    with pytest.raises(Refused) as refused:
        desk.act(desk.rt.reporting.deliver_report, case)
    assert refused.value.code == "report_already_delivered"
    with pytest.raises(Refused) as refused:
        desk.act(desk.rt.intake.cancel_case, case, "too late", "member")
    assert refused.value.code == "case_concluded"
