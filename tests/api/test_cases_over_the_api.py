"""A case walked over the API, the clinician's view, bad input, refusals, oversized bodies,
recorded reveals: what a case handler, a reviewer and an auditor would notice."""

from __future__ import annotations

import json
import sqlite3

import pytest

from services.api.actions import Desk
from tests.api.conftest import IDENTIFIERS, Api
from tests.fixtures import REQUEST

Walked = tuple[Api, dict[str, str]]


def test_a_case_walks_to_report_issued_over_the_api(api: Api) -> None:
    api.load_registers()
    opened = api.call("POST", "/cases", "case_handler", REQUEST)
    assert opened.status_code == 201
    assert opened.json() == {"case_id": opened.json()["case_id"], "status": "accepted", "reasons": [],
                             "model": "third_party"}
    case_id = opened.json()["case_id"]
    consents = api.call("POST", f"/cases/{case_id}/consents/grant", "case_handler",
                        {"scope": "records_access", "channel": "portal"}).json()
    assert consents["status"] == "collecting_records" and consents["consents"] == ["records_access"]
    records = api.call("POST", f"/cases/{case_id}/records", "case_handler",
                       {"kind": "imaging", "source": "Hospital radiology"}).json()
    assert [r["kind"] for r in records["records"]] == ["imaging"]
    assert api.call("POST", f"/cases/{case_id}/records/complete", "case_handler").json()["records_complete"]
    assert api.call("POST", f"/cases/{case_id}/consents/grant", "case_handler",
                    {"scope": "share_with_gp"}).status_code == 200
    review = api.call("POST", f"/cases/{case_id}/consents/grant", "case_handler",
                      {"scope": "third_party_disclosure"}).json()
    assert review["status"] == "in_review"
    opinion = api.call("POST", f"/cases/{case_id}/opinion", "case_handler",
                       {"outcome": "confirmed", "summary": "The repair is appropriate", "reviewer": "Mr Expert"})
    assert opinion.status_code == 200 and opinion.json()["opinion"]["outcome"] == "confirmed"
    delivered = api.call("POST", f"/cases/{case_id}/report/deliver", "case_handler").json()
    assert delivered["status"] == "report_issued"
    assert delivered["report_recipients"] == ["member", "gp"]
    assert delivered["sla_breached"] is False and delivered["review_due"]

    replay = api.call("GET", f"/cases/{case_id}/replay", "auditor").json()
    assert replay["state"]["status"] == "report_issued"
    assert {e["service"] for e in replay["events"]} == {"intake", "records", "review", "reporting"}
    assert "user:Hannah Handler" in {e["actor"] for e in replay["events"]}
    before = api.call("GET", f"/cases/{case_id}/replay", "auditor",
                      params={"as_of": replay["events"][0]["at"]}).json()
    assert before["state"]["status"] != "report_issued"
    history = api.call("GET", f"/cases/{case_id}/consents", "auditor").json()["history"]
    assert [h["scope"] for h in history] == ["records_access", "share_with_gp", "third_party_disclosure"]
    assert api.call("GET", "/analytics", "auditor").json()["cases"] == 1
    listed = api.call("GET", "/cases", "case_handler", params={"status": "report_issued"}).json()
    assert [c["case_id"] for c in listed["cases"]] == [case_id]
    text = json.dumps([replay, history, listed])
    assert not any(identifier in text for identifier in IDENTIFIERS)


# -- the clinician ----------------------------------------------------------------------------


def test_a_clinician_sees_the_pack_of_an_assigned_case_without_identifiers(walked: Walked) -> None:
    api, cases = walked
    response = api.call("GET", f"/cases/{cases['in_house']}/pack", "clinician", name=cases["reviewer"])
    assert response.status_code == 200, response.text
    pack = response.json()
    assert pack["pack"]["condition"] == "Rotator cuff tear"
    assert pack["pack"]["pseudonym"].startswith("SMO-")
    assert pack["pack"]["diagnosis_summary"] == "Full-thickness tear on MRI"
    assert pack["pack"]["proposed_treatment"].startswith("Open surgical repair for ")
    assert not any(identifier in response.text for identifier in IDENTIFIERS)
    assert "member_ref" not in response.text


def test_a_clinician_is_403_on_every_case_not_assigned_to_them(walked: Walked) -> None:
    api, cases = walked
    before = api.events()
    for case_id in (cases["network"], cases["fresh"]):
        assert api.call("GET", f"/cases/{case_id}/pack", "clinician", name=cases["reviewer"]).status_code == 403
        opinion = api.call("POST", f"/cases/{case_id}/opinion", "clinician",
                           {"outcome": "confirmed", "summary": "Agree"}, name=cases["reviewer"])
        assert opinion.status_code == 403 and opinion.json()["message"] == "this case is not assigned to you"
    for path in ("", "/replay", "/consents"):
        assert api.call("GET", f"/cases/{cases['in_house']}{path}", "clinician", name=cases["reviewer"]).status_code == 403
    assert api.call("GET", "/verify", "clinician", name=cases["reviewer"]).status_code == 403
    listed = api.call("GET", "/cases", "clinician", name=cases["reviewer"]).json()["cases"]
    assert [c["case_id"] for c in listed] == [cases["in_house"]]
    assert set(listed[0]) == {"case_id", "status", "specialty", "review_due", "sla_breached"}
    assert api.events() == before


def test_a_clinician_gives_an_opinion_on_their_case_in_their_own_name(walked: Walked) -> None:
    api, cases = walked
    someone_else = "Dr Baker" if cases["reviewer"] != "Dr Baker" else "Dr Able"
    other = api.call("POST", f"/cases/{cases['in_house']}/opinion", "clinician",
                     {"outcome": "confirmed", "summary": "Agree", "reviewer": someone_else}, name=cases["reviewer"])
    assert other.status_code == 403
    given = api.call("POST", f"/cases/{cases['in_house']}/opinion", "clinician",
                     {"outcome": "alternative_treatment", "summary": "Physiotherapy first"}, name=cases["reviewer"])
    assert given.status_code == 200, given.text
    assert given.json()["opinion"]["reviewer"] == cases["reviewer"]
    replay = api.call("GET", f"/cases/{cases['in_house']}/replay", "auditor").json()
    assert any(e["type"] == "opinion_submitted" and e["actor"] == f"user:{cases['reviewer']}" for e in replay["events"])


def test_the_network_that_received_a_pack_sees_it(walked: Walked) -> None:
    api, cases = walked
    response = api.call("GET", f"/cases/{cases['network']}/pack", "clinician", name="medexpert")
    assert response.status_code == 200
    assert response.json()["pack_id"]
    assert not any(identifier in response.text for identifier in IDENTIFIERS)


# -- bad input, refusals, limits ----------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body", "status", "field"), [
    ("POST", "/cases", {**REQUEST, "member": {**REQUEST["member"], "nhs_number": "9434765918"}}, 400,
     "member.nhs_number"),
    ("POST", "/cases", {**REQUEST, "member": {**REQUEST["member"], "date_of_birth": "1980-02-31"}}, 400,
     "member.date_of_birth"),
    ("POST", "/cases", {k: v for k, v in REQUEST.items() if k != "policy_number"}, 400, "policy_number"),
    ("POST", "/cases", "{not json", 400, "body"),
    ("POST", "/cases", "[1, 2]", 400, "body"),
    ("POST", "/policies", {"policies": [{"number": "X"}]}, 400, "policies[0].insurer"),
    ("POST", "/cases/{case}/consents/grant", {"scope": "everything"}, 400, "scope"),
    ("POST", "/cases/{case}/records", {"kind": "imaging", "source": "   "}, 400, "source"),
    ("POST", "/cases/{case}/records", {"kind": "imaging"}, 400, "source"),
    ("POST", "/cases/{case}/opinion", {"outcome": "maybe", "summary": "x", "reviewer": "y"}, 400, "outcome"),
    ("POST", "/cases/{case}/erase", {}, 400, "reason"),
    ("GET", "/cases/not-a-case-id", None, 422, "case_id"),
    ("GET", "/cases/{case}/replay?as_of=yesterday", None, 400, "as_of"),
    ("GET", "/sla/due?start=2025-06-12&working_days=-1&nation=ENG", None, 422, "working_days"),
    ("GET", "/sla/due?start=12/06/2025&working_days=3&nation=ENG", None, 400, "start"),
    ("GET", "/sla/due?start=2025-06-12&working_days=3&nation=FR", None, 400, "nation"),
    ("GET", "/verify?expect=nonsense", None, 400, "expect"),
])
def test_bad_input_names_the_field_and_records_nothing(api: Api, method: str, path: str, body: object,
                                                       status: int, field: str) -> None:
    api.load_registers()
    case_id = api.open()
    before = api.events()
    response = api.call(method, path.replace("{case}", case_id), "admin", body)
    assert response.status_code == status, response.text
    assert response.json()["error"] == "bad_input"
    assert response.json()["field"] == field
    assert response.json()["problem"]
    assert not any(identifier in response.text for identifier in ("9434765918", "1980-02-31"))
    assert api.events() == before


def test_an_unknown_case_is_404(api: Api) -> None:
    response = api.call("GET", "/cases/00000000-0000-4000-8000-000000000000", "admin")
    assert response.status_code == 404
    assert response.json()["field"] == "case_id"


def test_a_refusal_is_409_with_its_reason_code(walked: Walked) -> None:
    api, cases = walked
    before = api.events()
    records = api.call("POST", f"/cases/{cases['fresh']}/records", "case_handler",
                       {"kind": "imaging", "source": "Hospital radiology"})
    assert records.status_code == 409
    assert records.json()["error"] == "refused" and records.json()["reason"] == "consent_required"
    report = api.call("POST", f"/cases/{cases['network']}/report/deliver", "case_handler")
    assert report.status_code == 409 and report.json()["reason"]
    erase = api.call("POST", f"/cases/{cases['fresh']}/erase", "admin", {"reason": "asked"})
    assert erase.status_code == 409 and erase.json()["reason"] == "case_open"
    assert api.events() == before


def test_a_body_over_one_mebibyte_is_413_and_records_nothing(walked: Walked) -> None:
    api, cases = walked
    before = api.events()
    huge = json.dumps({**REQUEST, "proposed_treatment": "x" * (1024 * 1024)})
    response = api.call("POST", "/cases", "case_handler", huge)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b"x" * (64 * 1024)

    streamed = api.client.post(f"/cases/{cases['fresh']}/records", content=chunks(),
                               headers=api.as_("case_handler"))
    assert streamed.status_code == 413
    assert api.events() == before


def test_a_store_that_fails_is_503_with_no_trace(walked: Walked, monkeypatch: pytest.MonkeyPatch) -> None:
    api, cases = walked

    def broken(self: Desk) -> object:
        raise sqlite3.OperationalError("database is locked: 9434765919")

    monkeypatch.setattr(Desk, "writing", broken)
    response = api.call("POST", f"/cases/{cases['fresh']}/consents/grant", "case_handler",
                        {"scope": "records_access"})
    assert response.status_code == 503
    assert response.json() == {"error": "unavailable",
                               "message": "a store is busy with other writers; nothing was recorded, try again"}


# -- reading identifiers ----------------------------------------------------------------------


def test_a_reveal_is_recorded_naming_the_reader_and_shown_in_the_replay(walked: Walked) -> None:
    api, cases = walked
    case_id = cases["network"]
    sealed = api.call("GET", f"/cases/{case_id}/replay", "auditor").json()
    identified = next(e for e in sealed["events"] if e["type"] == "member_identified")
    assert identified["data"]["identity"]["name"] == "[sealed]"
    assert sealed["reads"] == []

    revealed = api.call("GET", f"/cases/{case_id}/replay", "auditor", params={"reveal": "true"}).json()
    identified = next(e for e in revealed["events"] if e["type"] == "member_identified")
    assert identified["data"]["identity"]["name"] == "Jane Doe"
    assert [r["reader"] for r in revealed["reads"]] == ["user:Audrey Auditor"]
    assert "identity.name" in " ".join(revealed["reads"][0]["fields"])

    later = api.call("GET", f"/cases/{case_id}/replay", "case_handler").json()
    assert [(r["reader"], r["kind"]) for r in later["reads"]] == [("user:Audrey Auditor", "identity_revealed")]
    assert "Jane Doe" not in json.dumps(later)


def test_a_clinician_may_not_reveal(walked: Walked) -> None:
    api, cases = walked
    before = api.events()
    response = api.call("GET", f"/cases/{cases['in_house']}", "clinician", params={"reveal": "true"},
                        name=cases["reviewer"])
    assert response.status_code == 403
    assert api.events() == before
