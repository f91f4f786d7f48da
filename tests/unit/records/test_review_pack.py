"""What reaches the third-party network carries no direct identifier (SPEC section 7)."""

from __future__ import annotations

import json

from events.codec import encode
from tests.fixtures import REQUEST, Desk, policy


def identifiers() -> list[str]:
    member, gp = REQUEST["member"], REQUEST["gp"]
    return [member["name"], member["nhs_number"], member["date_of_birth"], member["postcode"],
            member["email"], member["phone"], gp["name"], gp["practice"], gp["email"],
            "Jane", "Doe", "943 476 5919", "1AA"]


def test_review_pack_and_referral_carry_no_direct_identifier(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.to_review(case)
    outbound = [e for e in desk.rt.reporting.views.audit_trail(case)
                if e.type_name in ("review_pack_prepared", "network_referral_sent", "case_ready_for_review")]
    assert len(outbound) == 3
    for event in outbound:
        text = encode(event).decode()
        for identifier in identifiers():
            assert identifier not in text, (event.type_name, identifier)


def test_review_pack_keeps_what_a_reviewer_needs(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.to_review(case)
    pack = next(e for e in desk.rt.reporting.views.audit_trail(case)
                if e.type_name == "review_pack_prepared").pack
    assert pack.age_band == "40-49"  # born April 1980, request June 2025
    assert pack.outward_code == "SW1A"
    assert pack.condition == "Rotator cuff tear" and pack.icd10 == "M75.1"
    assert [r.kind for r in pack.records] == ["imaging"]
    assert pack.pseudonym.startswith("SMO-") and str(case) not in json.dumps(pack.model_dump(mode="json"))


def test_only_intake_ever_records_the_member_identity(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.to_review(case)
    for name in ("records", "review", "reporting"):
        app = desk.rt.services[name]
        for stored in app.recorder.select_events(case):
            text = stored.state.decode()
            assert REQUEST["member"]["nhs_number"] not in text and "Jane Doe" not in text
