"""`cases replay` as an auditor runs it: --steps, findings, --as-of and the evidence bundle
(--export), each through the real command line process on the embedded SQLite default."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from fhir.resources.bundle import Bundle

from services.common.context import LONDON
from tests.e2e.cli import Cases
from tests.fixtures import REQUEST, policy, request


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cases, str, str]:
    """A third-party case with its report shared with the GP; and a moment before the
    member's disclosure consent."""
    cases = Cases(tmp_path_factory.mktemp("replay") / "home")
    assert cases("policies", "load", cases.write("policies.json", {"policies": [policy()]})).code == 0
    case = cases("open", cases.write("case.json", request())).json["case_id"]
    for args in (("consent", "grant", case, "--scope", "records_access"),
                 ("records", "add", case, "--kind", "imaging", "--source", "Radiology"),
                 ("records", "complete", case)):
        assert cases(*args).code == 0, args
    before_disclosure = datetime.now(LONDON).isoformat()
    for args in (("consent", "grant", case, "--scope", "third_party_disclosure"),
                 ("opinion", "submit", case, "--outcome", "confirmed", "--summary", "Agree", "--reviewer", "Dr X"),
                 ("consent", "grant", case, "--scope", "share_with_gp"),
                 ("report", "deliver", case)):
        assert cases(*args).code == 0, args
    return cases, case, before_disclosure


def test_replay_steps_json(walked: tuple[Cases, str, str]) -> None:
    cases, case, _ = walked
    lean = cases("replay", case)
    assert lean.code == 0
    assert all("state_after" not in e and "changed" not in e for e in lean.json["events"])

    result = cases("replay", case, "--steps")
    assert result.code == 0
    r = result.json
    assert {"case_id", "events", "state", "findings", "disclosures", "consent_changes", "sla"} <= set(r)
    assert [e["type"] for e in r["events"]] == [e["type"] for e in lean.json["events"]]
    assert all({"type", "service", "at", "actor", "state_after", "changed"} <= set(e) for e in r["events"])
    assert r["events"][-1]["state_after"] == r["state"] == cases("show", case).json
    delivered = next(e for e in r["events"] if e["type"] == "report_delivered")
    assert delivered["changed"]["status"] == {"before": "in_review", "after": "report_issued"}

    assert r["findings"] == []
    partner = r["state"]["review"]["partner"]
    assert partner
    assert [(d["kind"], d["recipient"], d["valid"]) for d in r["disclosures"]] == [
        ("records_access", "insurer", True), ("partner_disclosure", partner, True),
        ("partner_disclosure", partner, True), ("report_share", "member", True),
        ("report_share", "gp", True)]
    gp_grant = next(c for c in r["consent_changes"] if c["scope"] == "share_with_gp")
    assert r["disclosures"][-1]["consent_event_id"] == gp_grant["event_id"]
    assert r["sla"]["met"] is True and r["sla"]["breached"] is False
    assert r["sla"]["working_days_used"] == 0 and r["sla"]["due_on"] == r["state"]["review_due"]


def test_replay_as_of_still_works(walked: tuple[Cases, str, str]) -> None:
    cases, case, before_disclosure = walked
    earlier = cases("replay", case, "--as-of", before_disclosure, "--steps")
    assert earlier.code == 0
    r = earlier.json
    assert r["as_of"] is not None
    assert r["state"]["status"] == "collecting_records" and r["state"]["review_due"] is None
    assert r["events"][-1]["state_after"] == r["state"]
    assert {d["kind"] for d in r["disclosures"]} == {"records_access"}
    assert r["sla"]["started_on"] is None and r["findings"] == []
    assert len(r["events"]) < len(cases("replay", case).json["events"])


def test_replay_export_writes_the_json_and_the_fhir_bundle(walked: tuple[Cases, str, str], tmp_path: Path) -> None:
    cases, case, _ = walked
    out = tmp_path / "evidence" / "case"
    result = cases("replay", case, "--export", str(out))
    assert result.code == 0, result.stderr
    replay_file, fhir_file = out / f"replay-{case}.json", out / f"fhir-bundle-{case}.json"
    assert result.json["exported"] == [str(replay_file.resolve()), str(fhir_file.resolve())]
    assert json.loads(replay_file.read_text()) == result.json
    assert replay_file.read_text() == result.stdout

    bundle = Bundle.model_validate_json(fhir_file.read_text())
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    assert kinds.count("Consent") == 3
    assert kinds.count("AuditEvent") == len(result.json["events"])
    text = fhir_file.read_text() + replay_file.read_text()
    member, gp = REQUEST["member"], REQUEST["gp"]
    for secret in (member["name"], member["nhs_number"], member["date_of_birth"], member["postcode"],
                   member["email"], member["phone"], gp["name"], gp["practice"], gp["email"]):
        assert secret not in text

    human = cases("replay", case, "--export", str(tmp_path / "again"), as_json=False)
    assert human.code == 0
    assert "Findings: none" in human.stdout and "Evidence written" in human.stdout
    assert "SLA:" in human.stdout and "Disclosures and the consent" in human.stdout
    assert (tmp_path / "again" / f"fhir-bundle-{case}.json").exists()


def test_replay_export_to_a_file_is_bad_input(walked: tuple[Cases, str, str], tmp_path: Path) -> None:
    cases, case, _ = walked
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    result = cases("replay", case, "--export", str(blocker))
    assert result.code == 2 and "--export" in result.stderr
