"""Reviewer partners (SPEC section 9, issue #8): routing to a registered partner, its
answers through review's gateway logic (no Kafka: the same pure handling the Kafka
gateway calls), rejections, recalls, the partner's deadline and removal."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.common.context import LONDON
from services.review.domain.review import CaseReview
from tests.fixtures import Desk, policy

#: Thursday 12 June 2025: the review starts that day, due on Thursday 26 June (10 working
#: days); the partner is to answer two working days before, by Tuesday 24 June.
DUE, RESPOND_BY = "2025-06-26", "2025-06-24"
IDENTIFIERS = ("Jane Doe", "9434765919", "1980-04-02", "SW1A 1AA", "jane@example.org", "07700900123",
               "Dr A Smith", "High Street Surgery", "gp@example.org")


def register(desk: Desk, *names: str, specialties: tuple[str, ...] = ("orthopaedics",)) -> None:
    for name in names:
        desk.act(desk.rt.review.register_partner, name, specialties)


def third_party_case(desk: Desk, *partners: str) -> UUID:
    desk.load_policies(policy())
    register(desk, *partners)
    case = desk.open()
    desk.to_review(case)
    return case


def referral(desk: Desk, case: UUID) -> tuple[str, UUID]:
    """(partner, pack id) of the case's current referral, as review holds it."""
    review = desk.rt.review.load(CaseReview, case)
    assert review is not None and review.partner is not None and review.pack_id is not None
    return review.partner, review.pack_id


def opinion(pack_id: UUID | str, **changes: Any) -> dict[str, Any]:
    return {"type": "opinion_given", "schema_version": 1, "message_id": str(uuid4()), "pack_id": str(pack_id),
            "outcome": "alternative_treatment", "summary": "Physiotherapy first", "reviewer": "Dr Partner Expert",
            "given_at": datetime(2025, 6, 13, 10, tzinfo=LONDON).isoformat(), **changes}


def acknowledgement(pack_id: UUID) -> dict[str, Any]:
    return {"type": "recall_acknowledged", "schema_version": 1, "message_id": str(uuid4()),
            "pack_id": str(pack_id), "acknowledged_at": datetime(2025, 6, 13, 11, tzinfo=LONDON).isoformat()}


def send(desk: Desk, partner: str, message: dict[str, Any] | bytes) -> Any:
    raw = message if isinstance(message, bytes) else json.dumps(message).encode()
    verdict = desk.rt.review.receive_partner_message(partner, raw, desk.ctx(f"partner:{partner}"))
    desk.rt.pump()
    return verdict


def outbox(desk: Desk) -> list[tuple[str, dict[str, Any]]]:
    """What review's gateway sends partners, as JSON (the Kafka relay sends exactly these)."""
    _, messages = desk.rt.review.partner_outbox(0, 10_000)
    return [(partner, json.loads(message.model_dump_json())) for partner, message in messages]


def replayed(desk: Desk, case: UUID) -> dict[str, Any]:
    from services.reporting.replay import case_events, replay

    return replay(case_events(desk.rt.services, case))


def test_a_third_party_case_goes_to_the_registered_partner_with_a_deadline(desk: Desk) -> None:
    case = third_party_case(desk, "acme")
    state = desk.state(case)
    assert state["status"] == "in_review" and state["review_due"] == DUE
    assert state["review"]["partner"] == "acme"
    assert state["review"]["referral"]["state"] == "sent"
    assert state["review"]["referral"]["respond_by"] == RESPOND_BY

    # The partner is sent the pseudonymised pack under its pack id, never the case id, and
    # nothing that identifies the member or the GP.
    [(partner, request)] = outbox(desk)
    assert partner == "acme" and request["type"] == "review_requested"
    assert request["pack_id"] == str(referral(desk, case)[1]) != str(case)
    assert request["respond_by"] == RESPOND_BY
    assert (request["age_band"], request["outward_code"], request["nation"]) == ("40-49", "SW1A", "ENG")
    assert request["condition"]["icd10"] == "M75.1" and request["specialty"] == "orthopaedics"
    assert [r["kind"] for r in request["records"]] == ["imaging"]
    assert all(isinstance(r["days_after_diagnosis"], int) for r in request["records"])
    text = json.dumps(request)
    assert str(case) not in text
    for identifier in IDENTIFIERS:
        assert identifier not in text, identifier

    assert desk.rt.review.partners() == [{"partner": "acme", "specialties": ["orthopaedics"],
                                          "open_referrals": [{"case_id": str(case), "respond_by": RESPOND_BY}]}]


def test_a_partner_for_another_specialty_is_not_chosen(desk: Desk) -> None:
    desk.load_policies(policy())
    register(desk, "heartnet", specialties=("cardiology",))
    case = desk.open()
    desk.to_review(case)
    state = desk.state(case)
    assert state["review"]["partner"] == "medexpert"  # the directory's network: answers by other means
    assert state["review"]["referral"]["respond_by"] is None
    assert outbox(desk) == []


def test_the_partners_opinion_is_the_cases_opinion_and_the_reidentification_is_audited(desk: Desk) -> None:
    case = third_party_case(desk, "acme")
    partner, pack = referral(desk, case)
    desk.later(days=1)
    verdict = send(desk, partner, opinion(pack))
    assert verdict.accepted and verdict.case_id == case

    state = desk.state(case)
    assert state["opinion"]["outcome"] == "alternative_treatment"
    assert state["opinion"]["reviewer"] == "Dr Partner Expert"
    assert state["review"]["referral"]["state"] == "answered"
    assert desk.rt.review.partners()[0]["open_referrals"] == []

    audit = replayed(desk, case)
    types = [e["type"] for e in audit["events"]]
    assert types.index("partner_opinion_received") < types.index("opinion_submitted")
    [reidentified] = audit["reidentifications"]
    assert (reidentified["partner"], reidentified["pack_id"]) == ("acme", str(pack))
    assert audit["findings"] == []

    desk.act(desk.rt.reporting.deliver_report, case)
    assert desk.state(case)["status"] == "report_issued"


def rejected_on_the_case(desk: Desk, case: UUID) -> list[dict[str, Any]]:
    return [e["data"] for e in replayed(desk, case)["events"] if e["type"] == "partner_opinion_rejected"]


def told(desk: Desk, partner: str) -> list[dict[str, Any]]:
    return [m for p, m in outbox(desk) if p == partner and m["type"] == "opinion_rejected"]


@pytest.mark.parametrize(("change", "field"), [
    ({"outcome": "probably_fine"}, "outcome"),
    ({"summary": ""}, "summary"),
    ({"given_at": "yesterday"}, "given_at"),
    ({"extra": "not in the schema"}, "extra"),
])
def test_an_opinion_that_fails_its_schema_changes_nothing_but_the_audit(desk: Desk, change: dict[str, Any],
                                                                         field: str) -> None:
    case = third_party_case(desk, "acme")
    partner, pack = referral(desk, case)
    before = desk.state(case)
    bad = opinion(pack, **change)
    verdict = send(desk, partner, bad)
    assert not verdict.accepted and verdict.reason == "invalid" and field in verdict.detail
    after = desk.state(case)
    assert after["opinion"] is None and after["status"] == before["status"] == "in_review"
    assert after["review"]["referral"] == before["review"]["referral"]
    [rejection] = rejected_on_the_case(desk, case)
    assert rejection["reason"] == "invalid" and rejection["rejected_message_id"] == bad["message_id"]
    [message] = told(desk, partner)
    assert message["reason"] == "invalid" and message["pack_id"] == str(pack)
    assert message["rejected_message_id"] == bad["message_id"] and field in message["detail"]
    assert "probably_fine" not in message["detail"]  # named by field, never by its data


def test_an_opinion_on_an_unknown_pack_is_rejected_on_the_partners_ledger(desk: Desk) -> None:
    case = third_party_case(desk, "acme")
    stranger = uuid4()
    verdict = send(desk, "acme", opinion(stranger))
    assert (verdict.accepted, verdict.reason, verdict.case_id) == (False, "unknown_pack", None)
    assert desk.state(case)["opinion"] is None and rejected_on_the_case(desk, case) == []
    ledger: list[Any] = list(desk.rt.review.stored_events(topics=["partner_message_rejected"]))
    assert [(e.partner, e.pack_id, e.reason) for e in ledger] == [("acme", stranger, "unknown_pack")]
    assert [m["reason"] for m in told(desk, "acme")] == ["unknown_pack"]

    # Not even JSON: only the dead letter and the ledger know (there is no pack to answer on).
    assert send(desk, "acme", b"{not json").reason == "invalid"
    assert [m["reason"] for m in told(desk, "acme")] == ["unknown_pack"]


def test_another_partners_pack_is_not_yours(desk: Desk) -> None:
    case = third_party_case(desk, "acme", "bonecare")
    partner, pack = referral(desk, case)
    other = "bonecare" if partner == "acme" else "acme"
    verdict = send(desk, other, opinion(pack))
    assert (verdict.accepted, verdict.reason) == (False, "not_yours")
    assert desk.state(case)["opinion"] is None
    assert [m["reason"] for m in told(desk, other)] == ["not_yours"] and told(desk, partner) == []


def test_an_opinion_that_comes_twice_counts_once(desk: Desk) -> None:
    case = third_party_case(desk, "acme")
    partner, pack = referral(desk, case)
    first = opinion(pack)
    assert send(desk, partner, first).accepted
    answered = desk.state(case)
    again = send(desk, partner, first)
    other = send(desk, partner, opinion(pack, outcome="confirmed"))
    assert (again.reason, other.reason) == ("duplicate", "duplicate")
    assert desk.state(case)["opinion"] == answered["opinion"]
    assert desk.types(case).count("opinion_submitted") == 1
    assert [m["reason"] for m in told(desk, partner)] == ["duplicate", "duplicate"]


def test_withdrawn_disclosure_recalls_the_pack_a_late_opinion_is_rejected_the_recall_acknowledged(desk: Desk) -> None:
    case = third_party_case(desk, "acme")
    partner, pack = referral(desk, case)
    desk.later(days=1)  # Friday 13 June
    desk.act(desk.rt.records.withdraw_consent, case, "third_party_disclosure", "phone")
    recall = [m for p, m in outbox(desk) if m["type"] == "review_recalled"]
    assert [(m["pack_id"], m["reason"]) for m in recall] == [(str(pack), "consent_withdrawn")]
    assert recall[0]["acknowledge_by"].startswith("2025-06-17")  # two working days later
    assert desk.state(case)["review"]["referral"]["state"] == "recalled"

    verdict = send(desk, partner, opinion(pack))
    assert (verdict.accepted, verdict.reason) == (False, "recalled")
    assert desk.state(case)["opinion"] is None and desk.state(case)["status"] == "suspended"

    assert send(desk, partner, acknowledgement(pack)).accepted
    assert desk.state(case)["review"]["referral"]["recall_acknowledged"] is True
    assert "recall_acknowledged" in desk.types(case)
    assert send(desk, partner, acknowledgement(pack)).reason == "duplicate"
    # Acknowledged in time: no finding, even once the deadline has passed.
    desk.later(days=7)
    desk.rt.tick()
    assert replayed(desk, case)["findings"] == []


def test_cancellation_recalls_the_pack_and_an_unacknowledged_recall_is_an_audit_finding(desk: Desk) -> None:
    case = third_party_case(desk, "acme")
    partner, pack = referral(desk, case)
    desk.act(desk.rt.intake.cancel_case, case, "member chose NHS treatment", "member")
    [recall] = [m for p, m in outbox(desk) if m["type"] == "review_recalled"]
    assert (recall["pack_id"], recall["reason"]) == (str(pack), "case_cancelled")
    desk.later(days=1)
    desk.rt.tick()
    assert replayed(desk, case)["findings"] == []  # not yet due: Monday 16 June, end of day

    desk.later(days=4)  # Tuesday 17 June
    desk.rt.tick()
    audit = replayed(desk, case)
    [finding] = audit["findings"]
    assert finding["kind"] == "recall_unacknowledged" and finding["recipient"] == "acme"
    assert finding["acknowledge_by"].startswith("2025-06-16") and finding["acknowledged_at"] is None
    assert desk.state(case)["review"]["referral"]["recall_overdue"] is True
    desk.rt.tick()
    assert desk.types(case).count("recall_overdue") == 1  # flagged once

    # A late acknowledgement is recorded; the finding stays, saying it came late.
    assert send(desk, partner, acknowledgement(pack)).accepted
    [finding] = replayed(desk, case)["findings"]
    assert finding["acknowledged_at"] is not None and finding["severity"] == "medium"


def test_a_partner_that_misses_its_deadline_loses_the_referral_to_another_then_to_the_in_house_team(desk: Desk) -> None:
    case = third_party_case(desk, "acme", "bonecare")
    first, pack = referral(desk, case)
    second = "bonecare" if first == "acme" else "acme"
    desk.later(days=12)  # Tuesday 24 June: the last day to answer
    desk.rt.tick()
    assert desk.state(case)["review"]["partner"] == first

    desk.later(days=1)  # Wednesday 25 June
    desk.rt.tick()
    state = desk.state(case)
    assert state["review"]["partner"] == second
    assert state["review"]["reroutes"][0] | {"at": None} == {"from": first, "to": second, "reason": "sla_missed",
                                                              "at": None}
    # The next partner still gets a working day, even this close to the due date.
    assert state["review"]["referral"] == {**state["review"]["referral"], "partner": second,
                                           "state": "sent", "respond_by": "2025-06-26"}
    messages = outbox(desk)
    assert [(p, m["type"]) for p, m in messages] == [
        (first, "review_requested"), (first, "review_recalled"), (second, "review_requested")]
    assert messages[1][1]["reason"] == "sla_missed"

    late = send(desk, first, opinion(pack))
    assert (late.accepted, late.reason) == (False, "late")

    desk.later(days=2)  # Friday 27 June: the second partner missed it too
    desk.rt.tick()
    state = desk.state(case)
    assert state["review"]["route"] == "in_house_queue" and state["review"]["partner"] is None
    assert [r["to"] for r in state["review"]["reroutes"]] == [second, "in_house"]
    assert state["review"]["reviewer"] in ("Dr Able", "Dr Baker")
    assert desk.rt.review.partners()[0]["open_referrals"] == []

    # The in-house reviewer gives the opinion (past the review's due date, so its SLA is breached).
    desk.act(desk.rt.review.submit_opinion, case, "confirmed", "Agree with surgery", state["review"]["reviewer"])
    state = desk.state(case)
    assert state["opinion"]["outcome"] == "confirmed" and state["sla_breached"] is True


def test_removing_a_partner_routes_its_open_referrals_anew(desk: Desk) -> None:
    case = third_party_case(desk, "acme")
    partner, pack = referral(desk, case)
    rerouted = desk.rt.review.remove_partner("acme", "contract ended", desk.ctx())
    desk.rt.pump()
    assert rerouted == [case]
    state = desk.state(case)
    assert state["review"]["route"] == "in_house_queue"
    assert state["review"]["reroutes"][0]["reason"] == "partner_removed"
    assert state["review"]["reviewer"] in ("Dr Able", "Dr Baker")
    # Its access is revoked: it is sent nothing more, not even the recall.
    assert [m["type"] for _, m in outbox(desk)] == []
    assert desk.rt.review.partners() == []
    assert send(desk, partner, opinion(pack)).reason == "recalled"

    from services.common.errors import Refused

    with pytest.raises(Refused) as refused:
        desk.rt.review.remove_partner("acme", "again", desk.ctx())
    assert refused.value.code == "unknown_partner"


def test_an_opinion_keyed_in_by_other_means_still_works_on_a_network_referral(desk: Desk) -> None:
    case = third_party_case(desk, "acme")
    partner, pack = referral(desk, case)
    desk.act(desk.rt.review.submit_opinion, case, "confirmed", "Received by secure email", "Dr Phone")
    assert desk.state(case)["opinion"]["reviewer"] == "Dr Phone"
    assert send(desk, partner, opinion(pack)).reason == "duplicate"
    desk.later(days=14)
    desk.rt.tick()  # the partner's deadline no longer matters: the case has its opinion
    assert "review_rerouted" not in desk.types(case)
