"""The case walk through the `cases` command line, each command its own process."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from services.common.context import LONDON
from tests.e2e.cli import Cases
from tests.fixtures import policy, request


@pytest.fixture
def cases(tmp_path: Path) -> Cases:
    return Cases(tmp_path / "home")


def test_full_third_party_walk(cases: Cases) -> None:
    walk_third_party_case(cases)


def walk_third_party_case(cases: Cases) -> str:
    """The acceptance walk; over Kafka too (tests/e2e/test_kafka_deployment.py)."""
    loaded = cases("policies", "load", cases.write("policies.json", {"policies": [policy()]}))
    assert loaded.code == 0 and loaded.json == {"loaded": 1}

    opened = cases("open", cases.write("case.json", request()))
    assert opened.code == 0
    assert opened.json["status"] == "accepted" and opened.json["model"] == "third_party"
    assert opened.json["reasons"] == []
    case = opened.json["case_id"]

    refused = cases("records", "add", case, "--kind", "imaging", "--source", "Radiology")
    assert refused.code == 1 and refused.json["reason"] == "consent_required"
    assert cases("records", "complete", case).code == 1
    assert cases("show", case).json["status"] == "awaiting_consent"

    granted = cases("consent", "grant", case, "--scope", "records_access")
    assert granted.code == 0 and granted.json["consents"] == ["records_access"]
    added = cases("records", "add", case, "--kind", "imaging", "--source", "Radiology")
    assert added.code == 0 and [r["kind"] for r in added.json["records"]] == ["imaging"]
    completed = cases("records", "complete", case)
    assert completed.code == 0 and completed.json["status"] == "collecting_records"
    before_disclosure = datetime.now(LONDON).isoformat()

    early = cases("opinion", "submit", case, "--outcome", "confirmed", "--summary", "x", "--reviewer", "Dr X")
    assert early.code == 1

    assert cases("consent", "grant", case, "--scope", "third_party_disclosure").code == 0
    shown = cases("show", case).json
    today = datetime.now(LONDON).date().isoformat()
    due = cases("sla", "due", "--start", today, "--working-days", "10", "--nation", "ENG").json["due"]
    assert shown["status"] == "in_review"
    assert shown["review_due"] == due
    assert shown["sla_breached"] is False

    assert cases("report", "deliver", case).code == 1  # before the opinion is in
    submitted = cases("opinion", "submit", case, "--outcome", "diagnosis_changed",
                      "--summary", "Partial-thickness tear", "--reviewer", "Dr Expert")
    assert submitted.code == 0 and submitted.json["status"] == "in_review"
    assert cases("consent", "grant", case, "--scope", "share_with_gp").code == 0
    delivered = cases("report", "deliver", case)
    assert delivered.code == 0
    assert delivered.json["status"] == "report_issued"
    assert delivered.json["report_recipients"] == ["member", "gp"]

    replay = cases("replay", case).json
    events = replay["events"]
    assert replay["case_id"] == case
    assert {e["service"] for e in events} == {"intake", "records", "review", "reporting"}
    times = [datetime.fromisoformat(e["at"]) for e in events]
    assert times == sorted(times) and all(t.tzinfo for t in times)
    assert all(e["type"] and e["actor"] for e in events)
    assert replay["state"]["status"] == "report_issued"
    assert replay["state"] == cases("show", case).json

    earlier = cases("replay", case, "--as-of", before_disclosure).json
    assert earlier["state"]["status"] == "collecting_records"
    assert earlier["state"]["review_due"] is None
    assert len(earlier["events"]) < len(events)
    return case


def test_declined_request_is_a_case_and_every_command_on_it_is_refused(cases: Cases) -> None:
    cases("policies", "load", cases.write("policies.json", {"policies": [policy(status="lapsed")]}))
    opened = cases("open", cases.write("case.json", request()))
    assert opened.code == 0
    assert opened.json["status"] == "declined"
    assert opened.json["reasons"] == ["policy_not_in_force"]
    assert opened.json["model"] is None
    case = opened.json["case_id"]
    assert cases("show", case).json["status"] == "declined"
    for args in (("consent", "grant", case, "--scope", "records_access"),
                 ("records", "add", case, "--kind", "imaging", "--source", "X"),
                 ("opinion", "submit", case, "--outcome", "confirmed", "--summary", "s", "--reviewer", "r"),
                 ("report", "deliver", case)):
        result = cases(*args)
        assert result.code == 1, args
        assert result.json["reason"] == "case_declined"


def test_unknown_policy_is_declined_with_that_reason_only(cases: Cases) -> None:
    opened = cases("open", cases.write("case.json", request(policy_number="NOPE-1")))
    assert opened.json["reasons"] == ["policy_not_found"]


@pytest.mark.parametrize("broken, field", [
    ('{"policy_number": ', "file"),
    ({**request(), "requested_on": "12/06/2025"}, "requested_on"),
    ({k: v for k, v in request().items() if k != "proposed_treatment"}, "proposed_treatment"),
    (request(nhs_number="9434765918"), "member.nhs_number"),
    (request(nation="XYZ"), "member.nation"),
    ({**request(), "requested_on": "2999-01-01"}, "requested_on"),
])
def test_bad_request_exits_2_names_the_field_and_records_nothing(cases: Cases, broken: object, field: str) -> None:
    cases("policies", "load", cases.write("policies.json", {"policies": [policy()]}))
    before = cases("verify").json["events"]
    result = cases("open", cases.write("bad.json", broken))
    assert result.code == 2
    assert field in result.stderr
    assert result.json["field"] == field
    assert cases("verify").json["events"] == before


def test_bad_policy_file_exits_2_and_loads_nothing(cases: Cases) -> None:
    bad = policy()
    bad["underwriting"] = "guesswork"
    result = cases("policies", "load", cases.write("policies.json", {"policies": [policy(number="OK-1"), bad]}))
    assert result.code == 2 and "policies[1].underwriting" in result.stderr
    assert not (cases.home / "intake.sqlite").exists()


def test_bad_options_exit_2_naming_the_option(cases: Cases) -> None:
    cases("policies", "load", cases.write("policies.json", {"policies": [policy()]}))
    case = cases("open", cases.write("case.json", request())).json["case_id"]
    assert "--scope" in cases("consent", "grant", case, "--scope", "everything").stderr
    assert cases("records", "add", case, "--kind", "xray", "--source", "x").code == 2
    assert cases("show", "not-a-case-id").code == 2
    unknown = cases("show", "00000000-0000-4000-8000-000000000000")
    assert unknown.code == 2 and "case_id" in unknown.stderr
    assert cases("sla", "due", "--start", "2025-13-01", "--working-days", "5", "--nation", "ENG").code == 2
    assert cases("sla", "due", "--start", "2025-12-19", "--working-days", "10", "--nation", "FRA").code == 2


def test_sla_due_for_each_nation(cases: Cases) -> None:
    # Good Friday 3 April and Easter Monday 6 April 2026; Scotland keeps Easter Monday as a working day.
    due = {n: cases("sla", "due", "--start", "2026-04-01", "--working-days", "3", "--nation", n).json["due"]
           for n in ("ENG", "WLS", "SCT", "NIR")}
    assert due == {"ENG": "2026-04-08", "WLS": "2026-04-08", "SCT": "2026-04-07", "NIR": "2026-04-08"}


def test_human_output_without_json(cases: Cases) -> None:
    cases("policies", "load", cases.write("policies.json", {"policies": [policy()]}))
    case = cases("open", cases.write("case.json", request())).json["case_id"]
    shown = cases("show", case, as_json=False)
    assert shown.code == 0 and "awaiting_consent" in shown.stdout
    refused = cases("records", "complete", case, as_json=False)
    assert refused.code == 1 and "consent_required" in refused.stderr
