"""The evidence bundle: a FHIR R5 Bundle of Consent and AuditEvent resources that validates,
holds a Consent per grant and an AuditEvent per event, and names nobody."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fhir.resources.bundle import Bundle

from events.reporting import Delivery
from services.reporting.audit.evidence import write_evidence
from services.reporting.audit.fhir_export import bundle_json, consent_id, fhir_bundle
from services.reporting.replay import case_events, replay
from tests.fixtures import REQUEST, Desk, policy
from tests.unit.reporting.test_replay_findings import grants, one, third_party_walk_with_gp_share


def identifiers(value: Any = None) -> Iterator[str]:
    """Every direct identifier the request gave: the member's and the GP's."""
    if value is None:
        value = {"member": REQUEST["member"], "gp": REQUEST["gp"]}
    if isinstance(value, dict):
        for key, item in value.items():
            if key != "nation":
                yield from identifiers(item)
    elif isinstance(value, str):
        yield value


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_the_bundle_validates_with_a_consent_per_grant_and_an_audit_event_per_event(desk: Desk) -> None:
    case, events = third_party_walk_with_gp_share(desk)
    text = bundle_json(fhir_bundle(events))
    assert Bundle.model_validate_json(text).type == "collection"
    bundle = json.loads(text)
    assert bundle["resourceType"] == "Bundle"
    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(full_urls) == len(set(full_urls))

    consents = resources(bundle, "Consent")
    granted = grants(events)
    assert len(consents) == len(granted) == 3
    member_ref = str(one(events, "case_opened").member_ref)
    granted_on = {"records_access": "2025-06-12", "third_party_disclosure": "2025-06-13",
                  "share_with_gp": "2025-06-17"}
    for scope, grant in granted.items():
        [consent] = [c for c in consents if c["category"][0]["coding"][0]["code"] == scope]
        assert consent["id"] == consent_id(grant.event_id)
        assert consent["identifier"][0]["value"] == f"urn:uuid:{grant.event_id}"
        assert consent["status"] == "active" and consent["decision"] == "permit"
        assert consent["date"] == granted_on[scope]
        assert consent["provision"][0]["code"][0]["coding"][0]["code"] == scope
        assert consent["subject"]["identifier"]["value"] == member_ref
        assert "reference" not in consent["subject"]

    audits = resources(bundle, "AuditEvent")
    assert [a["id"] for a in audits] == [str(e.event_id) for e in events]
    assert [a["code"]["coding"][0]["code"] for a in audits] == [e.type_name for e in events]
    for audit, event in zip(audits, events, strict=True):
        assert audit["recorded"] == event.occurred_at.isoformat()
        assert audit["agent"][0]["who"]["display"] == event.actor
        assert audit["outcome"]["code"]["code"] == "0"
        assert audit["entity"][0]["what"]["identifier"]["value"] == str(case)

    delivered = next(a for a in audits if a["code"]["text"] == "report_delivered")
    gp_grant = granted["share_with_gp"]
    consent_refs = [en["what"] for en in delivered["entity"] if en["what"].get("type") == "Consent"]
    assert consent_refs == [{"reference": f"urn:uuid:{consent_id(gp_grant.event_id)}", "type": "Consent",
                             "identifier": {"system": "urn:ietf:rfc:3986",
                                            "value": f"urn:uuid:{gp_grant.event_id}"}}]
    assert f"urn:uuid:{consent_id(gp_grant.event_id)}" in full_urls
    assert delivered["agent"][0]["policy"] == [f"urn:uuid:{gp_grant.event_id}"]


def test_a_withdrawn_grant_is_an_inactive_consent_and_a_disclosure_under_it_a_failure(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.to_review(case)
    desk.act(desk.rt.records.grant_consent, case, "share_with_gp", "portal")
    desk.act(desk.rt.review.submit_opinion, case, "confirmed", "Agree", "Dr X")
    desk.later(hours=2)
    desk.act(desk.rt.records.withdraw_consent, case, "share_with_gp", "phone")
    desk.act(desk.rt.reporting.deliver_report, case)
    events = case_events(desk.rt.services, case)
    grant = grants(events)["share_with_gp"]
    delivered = one(events, "report_delivered")
    forged = delivered.model_copy(update={"deliveries": (
        Delivery(recipient="member"), Delivery(recipient="gp", consent_event_id=grant.event_id))})
    events = [forged if e is delivered else e for e in events]

    bundle = json.loads(bundle_json(fhir_bundle(events)))
    [gp_consent] = [c for c in resources(bundle, "Consent") if c["category"][0]["text"] == "share_with_gp"]
    withdrawal = one(events, "consent_withdrawn")
    assert gp_consent["status"] == "inactive"
    assert gp_consent["period"]["end"] == withdrawal.occurred_at.isoformat()

    audits = {a["id"]: a for a in resources(bundle, "AuditEvent")}
    failed = audits[str(delivered.event_id)]
    assert failed["outcome"]["code"]["code"] == "8"
    assert failed["outcome"]["detail"][0]["coding"][0]["code"] == "disclosure_without_consent"
    assert failed["severity"] == "alert"
    assert [a for a in audits.values() if a["outcome"]["code"]["code"] != "0"] == [failed]


def test_a_cancelled_case_s_consents_end_at_the_cancellation(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.to_review(case)
    desk.later(hours=1)
    desk.act(desk.rt.records.withdraw_consent, case, "third_party_disclosure", "phone")
    desk.later(hours=3)
    desk.act(desk.rt.intake.cancel_case, case, "chose NHS treatment", "member")
    events = case_events(desk.rt.services, case)
    cancelled = one(events, "case_cancelled").occurred_at
    withdrawn = one(events, "consent_withdrawn").occurred_at
    assert withdrawn < cancelled

    consents = {c["category"][0]["text"]: c for c in resources(json.loads(bundle_json(fhir_bundle(events))), "Consent")}
    assert set(consents) == {"records_access", "third_party_disclosure"}
    assert all(c["status"] == "inactive" for c in consents.values())
    assert consents["records_access"]["period"]["end"] == cancelled.isoformat()
    assert consents["records_access"]["provision"][0]["period"]["end"] == cancelled.isoformat()
    # withdrawn before the cancellation: it ended then
    assert consents["third_party_disclosure"]["period"]["end"] == withdrawn.isoformat()

    # before the cancellation, the grant still stood
    before = [e for e in events if e.occurred_at < cancelled]
    earlier = {c["category"][0]["text"]: c for c in resources(json.loads(bundle_json(fhir_bundle(before))), "Consent")}
    assert earlier["records_access"]["status"] == "active" and "end" not in earlier["records_access"]["period"]


def test_nothing_exported_names_the_member_or_the_gp(desk: Desk, tmp_path: Path) -> None:
    case, events = third_party_walk_with_gp_share(desk)
    result = {"case_id": str(case), "as_of": None, **replay(events, with_steps=True)}
    written = write_evidence(tmp_path / "evidence", result, events, signing_seed=bytes(32))

    replay_file, fhir_file = (Path(p) for p in written["exported"])
    assert replay_file.name == f"replay-{case}.json" and fhir_file.name == f"fhir-bundle-{case}.json"
    assert json.loads(replay_file.read_text()) == written
    Bundle.model_validate_json(fhir_file.read_text())
    secrets = list(identifiers())
    assert {"Jane Doe", "9434765919", "1980-04-02", "SW1A 1AA", "jane@example.org", "07700900123",
            "Dr A Smith", "High Street Surgery", "gp@example.org"} <= set(secrets)
    for path in (replay_file, fhir_file):
        text = path.read_text()
        leaked = [s for s in secrets if s.lower() in text.lower()]
        assert leaked == [], f"{path.name} holds {leaked}"
        assert "Jane" not in text and "Smith" not in text
