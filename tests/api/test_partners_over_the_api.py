"""Reviewer partners over the API (SPEC section 9): added, listed and removed as `cases partner`
does it, with the same checks, the same results and the same refusals; the password is never
in a response."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Api
from tests.e2e.cli import Cases

PASSWORD = "Sesame-open-0123456789"
ACME = {"name": "acme", "specialties": ["orthopaedics", "cardiology"], "password": PASSWORD}


def partners(api: Api, role: str = "admin") -> list[dict[str, Any]]:
    response = api.call("GET", "/partners", role)
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()["partners"]
    return listed


def test_a_partner_is_added_takes_a_case_is_listed_and_removed(api: Api) -> None:
    added = api.call("POST", "/partners", "admin", ACME)
    assert added.status_code == 201, added.text
    assert added.json() == {"partner": "acme", "principal": "User:partner-acme",
                            "requests_topic": "partner.acme.requests.v1",
                            "opinions_topic": "partner.acme.opinions.v1",
                            "specialties": ["orthopaedics", "cardiology"], "secured": False, "broker": None}
    assert PASSWORD not in added.text

    api.load_registers()
    case_id = api.open()
    api.to_review(case_id)
    assert api.call("GET", f"/cases/{case_id}", "case_handler").json()["review"]["partner"] == "acme"

    for role in ("case_handler", "auditor", "admin"):
        [listed] = partners(api, role)
        assert listed["partner"] == "acme" and listed["specialties"] == ["orthopaedics", "cardiology"]
        assert listed["requests_topic"] == "partner.acme.requests.v1"
        assert [r["case_id"] for r in listed["open_referrals"]] == [case_id]
        assert listed["open_referrals"][0]["respond_by"]

    removed = api.call("DELETE", "/partners/acme", "admin", params={"reason": "contract ended"})
    assert removed.status_code == 200, removed.text
    assert removed.json() == {"partner": "acme", "removed": True, "rerouted": [case_id], "broker": None}
    shown = api.call("GET", f"/cases/{case_id}", "case_handler").json()
    assert shown["review"]["route"] == "in_house_queue"
    assert shown["review"]["reroutes"][0]["from"] == "acme"
    assert partners(api) == []
    removal = [e for e in api.call("GET", f"/cases/{case_id}/replay", "auditor").json()["events"]
               if e["type"] == "review_rerouted"]
    assert removal, "the reroute is in the case's replay"

    again = api.call("DELETE", "/partners/acme", "admin")
    assert again.status_code == 409
    assert again.json() == {"error": "refused", "reason": "unknown_partner",
                            "message": "no partner named acme is registered"}


def test_the_api_and_the_command_line_give_the_same_results_on_one_home(api: Api) -> None:
    cases = Cases(api.home)
    password = cases.write("beta.password", PASSWORD + "\n")
    by_cli = cases("partner", "add", "beta", "--specialties", "cardiology", "--password-file", password)
    assert by_cli.code == 0, by_cli.stderr
    by_api = api.call("POST", "/partners", "admin", {**ACME, "specialties": ["orthopaedics"]})
    assert by_api.status_code == 201
    assert set(by_api.json()) == set(by_cli.json)

    assert api.call("GET", "/partners", "auditor").json() == cases("partner", "list").json
    assert [p["partner"] for p in partners(api)] == ["acme", "beta"]

    assert api.call("DELETE", "/partners/beta", "admin").json() == \
        {"partner": "beta", "removed": True, "rerouted": [], "broker": None}
    refused = cases("partner", "remove", "beta")
    assert refused.code == 1 and refused.json["reason"] == "unknown_partner"
    assert api.call("DELETE", "/partners/beta", "admin").json()["reason"] == refused.json["reason"]
    assert cases("partner", "list").json == api.call("GET", "/partners", "admin").json()


def test_on_an_empty_home_the_list_is_empty_and_a_removal_is_refused(api: Api) -> None:
    assert partners(api) == []
    response = api.call("DELETE", "/partners/acme", "admin")
    assert response.status_code == 409 and response.json()["reason"] == "unknown_partner"
    assert api.events() == 0


BAD_BODIES: list[tuple[str, Any, str]] = [
    ("upper case name", {**ACME, "name": "Acme"}, "name"),
    ("a dot in the name", {**ACME, "name": "acme.evil"}, "name"),
    ("a newline after the name", {**ACME, "name": "acme\n"}, "name"),
    ("a one-letter name", {**ACME, "name": "a"}, "name"),
    ("a name that is a number", {**ACME, "name": 7}, "name"),
    ("no name", {k: v for k, v in ACME.items() if k != "name"}, "name"),
    ("no specialty", {**ACME, "specialties": []}, "specialties"),
    ("a blank specialty", {**ACME, "specialties": [" "]}, "specialties"),
    ("an empty specialty among others", {**ACME, "specialties": ["orthopaedics", ""]}, "specialties"),
    ("a comma in a specialty", {**ACME, "specialties": ["orthopaedics,cardiology"]}, "specialties"),
    ("specialties as text", {**ACME, "specialties": "orthopaedics"}, "specialties"),
    ("a password too short", {**ACME, "password": "Sesame-0123"}, "password"),
    ("an empty password", {**ACME, "password": ""}, "password"),
    ("a password that is a number", {**ACME, "password": 1234567890123456}, "password"),
    ("no password", {k: v for k, v in ACME.items() if k != "password"}, "password"),
    ("a lone surrogate in the password", json.dumps({**ACME, "password": PASSWORD + "\\ud800"})
     .replace("\\\\ud800", "\\ud800"), "password"),
    ("no body", None, "body"),
    ("malformed JSON", '{"name": "acme", "password": "' + PASSWORD + '"', "body"),
    ("a list", [ACME], "body"),
]


@pytest.mark.parametrize(("what", "body", "field"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_input_is_400_naming_the_field_without_the_password_and_records_nothing(
        api: Api, what: str, body: Any, field: str) -> None:
    response = api.call("POST", "/partners", "admin", body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "bad_input"
    assert response.json()["field"] == field, response.text
    for secret in (PASSWORD, "Sesame"):
        assert secret not in response.text
    assert partners(api) == []
    assert api.events() == 0


def test_a_bad_name_or_reason_on_removal_is_400_naming_it(api: Api) -> None:
    assert api.call("POST", "/partners", "admin", ACME).status_code == 201
    before = api.events()
    for path, params, field in (("/partners/Acme", None, "name"), ("/partners/acme.evil", None, "name"),
                                ("/partners/acme%0A", None, "name"), ("/partners/acme", {"reason": " "}, "reason")):
        response = api.call("DELETE", path, "admin", params=params)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["field"] == field
    assert api.events() == before
    assert [p["partner"] for p in partners(api)] == ["acme"]


def test_a_second_add_changes_the_specialties_and_says_the_same(api: Api) -> None:
    assert api.call("POST", "/partners", "admin", ACME).status_code == 201
    again = api.call("POST", "/partners", "admin",
                     {**ACME, "specialties": [" cardiology ", "cardiology", "neurology"]})
    assert again.status_code == 201
    assert again.json()["specialties"] == ["cardiology", "neurology"]
    assert partners(api)[0]["specialties"] == ["cardiology", "neurology"]


def test_with_a_broker_that_is_not_there_it_is_503_and_nothing_is_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("CASES_BUS", "kafka://127.0.0.1:1")
    response = Api(home).call("POST", "/partners", "admin", ACME)
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "unavailable"
    assert PASSWORD not in response.text and "Traceback" not in response.text
    monkeypatch.delenv("CASES_BUS")
    embedded = Api(home)
    assert partners(embedded) == []
    assert embedded.events() == 0

    assert embedded.call("POST", "/partners", "admin", {**ACME, "name": "beta"}).status_code == 201
    before = embedded.events()
    monkeypatch.setenv("CASES_BUS", "kafka://127.0.0.1:1")
    removal = Api(home).call("DELETE", "/partners/beta", "admin")
    assert removal.status_code == 503, removal.text
    assert removal.json()["error"] == "unavailable"
    monkeypatch.delenv("CASES_BUS")
    assert [p["partner"] for p in partners(embedded)] == ["beta"]
    assert embedded.events() == before
