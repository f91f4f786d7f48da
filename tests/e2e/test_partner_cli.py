"""`cases partner add|list|remove` as an operator runs them, on the embedded runtime."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cli import Cases
from tests.fixtures import policy, request


@pytest.fixture
def cases(tmp_path: Path) -> Cases:
    return Cases(tmp_path / "home")


def test_a_partner_is_added_listed_takes_a_case_and_is_removed(cases: Cases) -> None:
    password = cases.write("acme.password", "a-partner-password-0123\n")
    added = cases("partner", "add", "acme", "--specialties", "orthopaedics,cardiology", "--password-file", password)
    assert added.code == 0, added.stderr
    assert added.json == {"partner": "acme", "principal": "User:partner-acme",
                          "requests_topic": "partner.acme.requests.v1", "opinions_topic": "partner.acme.opinions.v1",
                          "specialties": ["orthopaedics", "cardiology"], "secured": False, "broker": None}
    assert "a-partner-password" not in added.stdout + added.stderr

    assert cases("policies", "load", cases.write("policies.json", {"policies": [policy()]})).code == 0
    case = cases("open", cases.write("case.json", request())).json["case_id"]
    for step in (("consent", "grant", case, "--scope", "records_access"),
                 ("records", "add", case, "--kind", "imaging", "--source", "Radiology"),
                 ("records", "complete", case),
                 ("consent", "grant", case, "--scope", "third_party_disclosure")):
        assert cases(*step).code == 0, step
    assert cases("show", case).json["review"]["partner"] == "acme"

    [listed] = cases("partner", "list").json["partners"]
    assert listed["partner"] == "acme" and listed["specialties"] == ["orthopaedics", "cardiology"]
    assert [r["case_id"] for r in listed["open_referrals"]] == [case]
    assert listed["open_referrals"][0]["respond_by"]

    removed = cases("partner", "remove", "acme", "--reason", "contract ended")
    assert removed.code == 0 and removed.json["rerouted"] == [case]
    shown = cases("show", case).json
    assert shown["review"]["route"] == "in_house_queue" and shown["review"]["reroutes"][0]["from"] == "acme"
    assert cases("partner", "list").json == {"partners": []}

    again = cases("partner", "remove", "acme")
    assert again.code == 1 and again.json["reason"] == "unknown_partner"


def test_bad_partner_input_exits_2_naming_the_field_and_records_nothing(cases: Cases) -> None:
    good = cases.write("good.password", "a-partner-password-0123")
    short = cases.write("short.password", "too-short")
    empty = cases.write("empty.password", "\n")
    for args, field in (
        (("Acme", "--specialties", "orthopaedics", "--password-file", good), "NAME"),
        (("acme.evil", "--specialties", "orthopaedics", "--password-file", good), "NAME"),
        (("acme", "--specialties", " , ", "--password-file", good), "--specialties"),
        (("acme", "--specialties", "orthopaedics,,cardiology", "--password-file", good), "--specialties"),
        (("acme", "--specialties", "orthopaedics", "--password-file", short), "--password-file"),
        (("acme", "--specialties", "orthopaedics", "--password-file", empty), "--password-file"),
        (("acme", "--specialties", "orthopaedics", "--password-file", str(cases.home.parent / "none")),
         "--password-file"),
    ):
        result = cases("partner", "add", *args)
        assert result.code == 2, args
        assert result.json["field"] == field, args
        assert field in result.stderr
    assert cases("partner", "add", "acme", "--specialties", "orthopaedics", "--password-file", good).code == 0
    assert [p["partner"] for p in cases("partner", "list").json["partners"]] == ["acme"]


def test_with_a_broker_that_is_not_there_nothing_is_recorded(tmp_path: Path) -> None:
    cases = Cases(tmp_path / "home", env={"CASES_BUS": "kafka://127.0.0.1:1"})
    password = cases.write("acme.password", "a-partner-password-0123")
    result = cases("partner", "add", "acme", "--specialties", "orthopaedics", "--password-file", password)
    assert result.code == 3 and result.json["error"] == "unavailable"
    assert "Traceback" not in result.stderr
    assert Cases(tmp_path / "home")("partner", "list").code == 2  # no store was even made
