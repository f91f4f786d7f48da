"""The auditor's findings: each disclosure paired with the consent that allowed it, the SLA,
and the state after each step. `audit_findings` is a pure function of the events, so the
logs the services would refuse to write are built by hand from a real walk's events."""

from __future__ import annotations

from itertools import pairwise
from typing import Any
from uuid import UUID, uuid4

from events.envelope import DomainEvent
from events.reporting import Delivery
from services.reporting.audit import audit_findings
from services.reporting.replay import case_events, replay
from tests.fixtures import Desk, policy


def third_party_walk_with_gp_share(desk: Desk) -> tuple[UUID, list[DomainEvent]]:
    desk.load_policies(policy())
    case = desk.open()
    desk.later(hours=1)
    desk.act(desk.rt.records.grant_consent, case, "records_access", "portal")
    desk.act(desk.rt.records.request_records, case, "gp_summary", "Registered GP")
    desk.act(desk.rt.records.add_record, case, "imaging", "Hospital radiology")
    desk.act(desk.rt.records.add_record, case, "gp_summary", "Registered GP")
    desk.act(desk.rt.records.complete_records, case)
    desk.later(days=1)  # Friday 13 June
    desk.act(desk.rt.records.grant_consent, case, "third_party_disclosure", "portal")
    desk.later(days=4)
    desk.act(desk.rt.review.submit_opinion, case, "alternative_treatment", "Physiotherapy first", "Dr Expert")
    desk.act(desk.rt.records.grant_consent, case, "share_with_gp", "portal")
    desk.act(desk.rt.reporting.deliver_report, case)
    return case, case_events(desk.rt.services, case)


def grants(events: list[DomainEvent]) -> dict[str, DomainEvent]:
    return {e.scope: e for e in events if e.type_name == "consent_granted"}  # type: ignore[attr-defined]


def one(events: list[DomainEvent], type_name: str) -> Any:
    [found] = [e for e in events if e.type_name == type_name]
    return found


def test_a_full_third_party_case_with_gp_share_has_every_disclosure_valid(desk: Desk) -> None:
    _, events = third_party_walk_with_gp_share(desk)
    audit = audit_findings(events)
    granted = {scope: str(e.event_id) for scope, e in grants(events).items()}

    assert audit["findings"] == []
    rows = [(d["type"], d["kind"], d["recipient"], d["consent_event_id"], d["consent_scope"], d["valid"])
            for d in audit["disclosures"]]
    assert rows == [
        ("records_requested", "records_access", "insurer", granted["records_access"], "records_access", True),
        ("record_received", "records_access", "insurer", granted["records_access"], "records_access", True),
        ("record_received", "records_access", "insurer", granted["records_access"], "records_access", True),
        ("review_pack_prepared", "partner_disclosure", "medexpert", granted["third_party_disclosure"],
         "third_party_disclosure", True),
        ("network_referral_sent", "partner_disclosure", "medexpert", granted["third_party_disclosure"],
         "third_party_disclosure", True),
        ("report_delivered", "report_share", "member", None, None, True),
        ("report_delivered", "report_share", "gp", granted["share_with_gp"], "share_with_gp", True),
    ]
    every = {"event_id", "type", "at", "kind", "recipient", "consent_event_id", "consent_scope", "valid"}
    assert all(every <= set(d) for d in audit["disclosures"])
    assert [(c["action"], c["scope"], c["withdrawn_by"]) for c in audit["consent_changes"]] == [
        ("granted", "records_access", None), ("granted", "third_party_disclosure", None),
        ("granted", "share_with_gp", None)]
    assert audit["sla"] == {
        "started_on": "2025-06-13", "due_on": "2025-06-27", "sla_working_days": 10, "nation": "ENG",
        "submitted_on": "2025-06-17", "working_days_used": 2, "met": True, "breached": False,
        "breach_detected_on": None,
    }
    # The replay carries the same findings, whatever order the events come in.
    assert {k: replay(reversed(events))[k] for k in audit} == audit


def test_a_gp_copy_under_a_consent_withdrawn_before_delivery_is_a_high_finding(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.to_review(case)
    desk.act(desk.rt.records.grant_consent, case, "share_with_gp", "portal")
    desk.act(desk.rt.review.submit_opinion, case, "confirmed", "Agree", "Dr X")
    desk.act(desk.rt.records.withdraw_consent, case, "share_with_gp", "phone")
    desk.act(desk.rt.reporting.deliver_report, case)
    events = case_events(desk.rt.services, case)
    assert audit_findings(events)["findings"] == []  # the services withheld the GP copy

    # A log the services would never write: the GP copy went out under the withdrawn grant.
    grant = grants(events)["share_with_gp"]
    delivered = one(events, "report_delivered")
    forged = delivered.model_copy(update={"deliveries": (
        Delivery(recipient="member"), Delivery(recipient="gp", consent_event_id=grant.event_id))})
    audit = audit_findings([forged if e is delivered else e for e in events])

    [finding] = audit["findings"]
    assert finding["severity"] == "high" and finding["kind"] == "disclosure_without_consent"
    assert finding["event_id"] == str(delivered.event_id)
    assert finding["disclosure_kind"] == "report_share" and finding["recipient"] == "gp"
    assert finding["consent_event_id"] == str(grant.event_id)
    assert finding["problem"] == "consent_withdrawn_before_disclosure"
    gp = [d for d in audit["disclosures"] if d["recipient"] == "gp"]
    assert [d["valid"] for d in gp] == [False]
    withdrawn = [c for c in audit["consent_changes"] if c["scope"] == "share_with_gp"]
    assert [c["action"] for c in withdrawn] == ["granted", "withdrawn"]
    assert withdrawn[0]["withdrawn_by"] == withdrawn[1]["event_id"]
    assert withdrawn[1]["grant_event_id"] == str(grant.event_id)


def test_each_way_a_named_consent_can_fail_to_allow_a_disclosure(desk: Desk) -> None:
    _, events = third_party_walk_with_gp_share(desk)
    granted = grants(events)
    pack = one(events, "review_pack_prepared")
    referral = one(events, "network_referral_sent")
    received = next(e for e in events if e.type_name == "record_received")

    def problems(original: DomainEvent, forged: DomainEvent) -> list[str]:
        audit = audit_findings([forged if e is original else e for e in events])
        return [f["problem"] for f in audit["findings"]]

    # the records_access grant does not allow a disclosure to a partner
    assert problems(pack, pack.model_copy(update={"consent_event_id": granted["records_access"].event_id})) \
        == ["wrong_scope"]
    # a grant that is not in this case's log
    assert problems(referral, referral.model_copy(update={"consent_event_id": uuid4()})) \
        == ["consent_not_in_case_log"]
    # a grant recorded after the records were received
    assert problems(received, received.model_copy(
        update={"consent_event_id": granted["share_with_gp"].event_id})) == ["wrong_scope"]
    # the records_access grant moved after everything it allowed
    moved = granted["records_access"].model_copy(update={"occurred_at": received.occurred_at.replace(year=2026)})
    audit = audit_findings([moved if e is granted["records_access"] else e for e in events])
    assert {f["problem"] for f in audit["findings"]} == {"consent_after_disclosure"}
    assert {f["type"] for f in audit["findings"]} == {"records_requested", "record_received"}


def test_a_disclosure_before_a_withdrawal_stays_valid_and_a_regrant_is_a_new_consent(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.act(desk.rt.records.grant_consent, case, "records_access", "portal")
    desk.act(desk.rt.records.add_record, case, "imaging", "Hospital radiology")
    desk.act(desk.rt.records.withdraw_consent, case, "records_access", "phone")
    desk.act(desk.rt.records.grant_consent, case, "records_access", "phone")
    desk.act(desk.rt.records.add_record, case, "pathology", "Hospital lab")
    events = case_events(desk.rt.services, case)
    audit = audit_findings(events)
    first, second = [e for e in events if e.type_name == "consent_granted"]
    assert [(d["consent_event_id"], d["valid"]) for d in audit["disclosures"]] == [
        (str(first.event_id), True), (str(second.event_id), True)]
    assert audit["findings"] == []

    # The second record claiming the first (withdrawn) grant is a finding.
    late = [e for e in events if e.type_name == "record_received"][-1]
    forged = late.model_copy(update={"consent_event_id": first.event_id})
    audit = audit_findings([forged if e is late else e for e in events])
    assert [f["problem"] for f in audit["findings"]] == ["consent_withdrawn_before_disclosure"]


def test_sla_met_and_breached(desk: Desk) -> None:
    desk.load_policies(policy(sla_working_days=5))
    met_case = desk.open()
    late_case = desk.open()
    for case in (met_case, late_case):
        desk.to_review(case)  # started Thursday 12 June, due Thursday 19 June
    desk.later(days=1)
    desk.act(desk.rt.review.submit_opinion, met_case, "confirmed", "In time", "Dr X")
    desk.later(days=7)  # Friday 20 June: one working day late
    desk.rt.flag_overdue_reviews()
    desk.act(desk.rt.review.submit_opinion, late_case, "confirmed", "Late but sound", "Dr X")

    met = audit_findings(case_events(desk.rt.services, met_case))
    assert met["sla"]["met"] is True and met["sla"]["breached"] is False
    assert met["sla"]["working_days_used"] == 1 and met["sla"]["due_on"] == "2025-06-19"
    assert met["findings"] == []

    late = audit_findings(case_events(desk.rt.services, late_case))
    assert late["sla"]["met"] is False and late["sla"]["breached"] is True
    assert late["sla"]["working_days_used"] == 6 and late["sla"]["due_on"] == "2025-06-19"
    assert late["sla"]["breach_detected_on"] == "2025-06-20"
    [finding] = late["findings"]
    assert finding["kind"] == "sla_breached" and finding["severity"] == "medium"
    assert finding["working_days_used"] == 6


def test_sla_before_the_review_starts_and_before_the_opinion(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.act(desk.rt.records.grant_consent, case, "records_access", "portal")
    sla = audit_findings(case_events(desk.rt.services, case))["sla"]
    assert sla["started_on"] is None and sla["met"] is None and sla["breached"] is False
    desk.act(desk.rt.records.add_record, case, "imaging", "Hospital radiology")
    desk.act(desk.rt.records.complete_records, case)
    desk.act(desk.rt.records.grant_consent, case, "third_party_disclosure", "portal")
    sla = audit_findings(case_events(desk.rt.services, case))["sla"]
    assert sla["started_on"] == "2025-06-12" and sla["met"] is None and sla["working_days_used"] is None


def test_steps_give_the_state_after_each_event_and_what_it_changed(desk: Desk) -> None:
    _, events = third_party_walk_with_gp_share(desk)
    lean = replay(events)
    assert all("state_after" not in e and "changed" not in e for e in lean["events"])

    stepped = replay(events, with_steps=True)["events"]
    assert stepped[-1]["state_after"] == lean["state"]
    assert [e["type"] for e in stepped] == [e["type"] for e in lean["events"]]
    first = stepped[0]
    assert first["type"] == "case_opened" and first["changed"]["status"] == {"before": None, "after": "opened"}
    grant = next(e for e in stepped if e["type"] == "consent_granted")
    assert grant["changed"]["status"] == {"before": "awaiting_consent", "after": "collecting_records"}
    assert grant["changed"]["consents"] == {"before": [], "after": ["records_access"]}
    assert "updated_at" not in grant["changed"] and "events" not in grant["changed"]
    delivered = next(e for e in stepped if e["type"] == "report_delivered")
    assert delivered["changed"]["report_recipients"]["after"] == ["member", "gp"]
    assert delivered["state_after"]["status"] == "report_issued"
    for before, after in pairwise(stepped):
        for key, change in after["changed"].items():
            assert change["before"] == before["state_after"][key]


def test_findings_as_of_a_moment_see_only_the_events_up_to_it(desk: Desk) -> None:
    _, events = third_party_walk_with_gp_share(desk)
    opened = replay(events, events[0].occurred_at)
    assert opened["disclosures"] == [] and opened["consent_changes"] == []
    assert opened["sla"]["started_on"] is None and opened["findings"] == []
    before_review = replay(events, one(events, "records_completed").occurred_at)
    assert [d["type"] for d in before_review["disclosures"]] == [
        "records_requested", "record_received", "record_received"]
    assert before_review["sla"]["started_on"] is None and before_review["findings"] == []


def test_the_terminal_view_highlights_a_finding_and_the_sla(desk: Desk) -> None:
    from services.cli import presenters

    desk.load_policies(policy())
    case = desk.open()
    desk.to_review(case)
    desk.act(desk.rt.records.grant_consent, case, "share_with_gp", "portal")
    desk.act(desk.rt.review.submit_opinion, case, "confirmed", "Agree", "Dr X")
    desk.act(desk.rt.records.withdraw_consent, case, "share_with_gp", "phone")
    desk.act(desk.rt.reporting.deliver_report, case)
    events = case_events(desk.rt.services, case)
    grant = grants(events)["share_with_gp"]
    delivered = one(events, "report_delivered")
    forged = delivered.model_copy(update={"deliveries": (
        Delivery(recipient="member"), Delivery(recipient="gp", consent_event_id=grant.event_id))})
    result = {"case_id": str(case), "as_of": None,
              **replay([forged if e is delivered else e for e in events], with_steps=True)}
    with presenters.out.capture() as captured:
        presenters.replay(result)
    text = captured.get()
    assert "FINDING (high) disclosure_without_consent" in text
    assert str(delivered.event_id) in text
    assert "SLA: 10 working days (ENG), started 2025-06-12" in text
    assert "Consent changes" in text and "withdrawn" in text
