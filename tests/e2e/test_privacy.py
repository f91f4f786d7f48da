"""Health data at rest: a member's identifiers and the free text about them are sealed under a
key of their own in every store; erasing the member destroys that key; every read of the
plaintext is recorded. Driven through the real command line, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import Cases
from tests.fixtures import REQUEST, policy

PLANTED = {
    "diagnosis": {"by": "Dr Quentin Blackwood", "summary": "Mrs Elowen Tregarthen (NHS 943 476 5919,"
                  " born 02/04/1980) has a full-thickness tear"},
    "proposed_treatment": "Open repair; contact elowen.t@example.org or 07700 900456",
}


def member_request() -> dict[str, Any]:
    request = copy.deepcopy(REQUEST)
    request["member"].update({"name": "Elowen Tregarthen", "email": "elowen.t@example.org",
                              "phone": "07700900456", "postcode": "TR18 4AB"})
    request["gp"] = {"name": "Dr Morwenna Pascoe", "practice": "Penlee Surgery",
                     "email": "penlee.gp@example.org"}
    request.update(PLANTED)
    return request


IDENTIFIERS = ["Elowen", "Tregarthen", "9434765919", "943 476 5919", "1980-04-02", "02/04/1980",
               "TR18 4AB", "elowen.t@example.org", "07700900456", "07700 900456", "Morwenna",
               "Penlee Surgery", "penlee.gp@example.org", "Quentin Blackwood", "full-thickness"]


def walk(cases: Cases) -> str:
    cases("policies", "load", cases.write("policies.json", {"policies": [policy()]}))
    case = cases("open", cases.write("case.json", member_request())).json["case_id"]
    for command in (["consent", "grant", case, "--scope", "records_access"],
                    ["records", "add", case, "--kind", "imaging", "--source", "Hospital radiology"],
                    ["records", "complete", case],
                    ["consent", "grant", case, "--scope", "third_party_disclosure"],
                    ["opinion", "submit", case, "--outcome", "confirmed", "--summary",
                     "Agree with surgery for Elowen Tregarthen", "--reviewer", "Dr Expert"],
                    ["consent", "grant", case, "--scope", "share_with_gp"],
                    ["report", "deliver", case]):
        done = cases(*command)
        assert done.code == 0, (command, done.stderr)
    return case


def stored_bytes(home: Path) -> bytes:
    """Every file of the home, and on PostgreSQL every row of the test's schema, as bytes."""
    blob = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    schema = os.environ.get("CASES_PG_SCHEMA")
    if os.environ.get("CASES_STORE") == "postgres" and schema:
        import psycopg

        with psycopg.connect(os.environ["CASES_PG_DSN"]) as db:
            tables = [r[0] for r in db.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))]
            for table in tables:
                for row in db.execute(f'SELECT * FROM {schema}."{table}"'):
                    blob += b"|".join(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
                                      for v in row)
    return blob


def test_no_store_holds_a_member_identifier_or_their_free_text_in_plaintext(tmp_path: Path, store: str) -> None:
    cases = Cases(tmp_path / "home")
    walk(cases)
    blob = stored_bytes(tmp_path / "home").lower()
    found = [text for text in IDENTIFIERS if text.lower().encode() in blob]
    assert not found, f"in plaintext at rest: {found}"
    assert (tmp_path / "home" / "keys" / "members.sqlite").stat().st_mode & 0o077 == 0


def test_reads_show_sealed_values_and_a_reveal_is_recorded_naming_the_reader(tmp_path: Path, store: str) -> None:
    cases = Cases(tmp_path / "home", env={"CASES_USER": "auditor.jones"})
    case = walk(cases)
    replay = cases("replay", case).json
    identity = next(e for e in replay["events"] if e["type"] == "member_identified")["data"]["identity"]
    assert set(identity.values()) == {"[sealed]"}
    assert "Elowen" not in cases("show", case).stdout

    revealed = cases("replay", case, "--reveal").json
    identity = next(e for e in revealed["events"] if e["type"] == "member_identified")["data"]["identity"]
    assert identity["name"] == "Elowen Tregarthen" and identity["nhs_number"] == "9434765919"
    reads = [e for e in cases("replay", case).json["events"] if e["type"] == "identity_revealed"]
    assert len(reads) == 1 and reads[0]["actor"] == "user:auditor.jones"
    assert any("identity.name" in f for f in reads[0]["data"]["fields"])


def test_erasure_waits_for_closed_cases_then_leaves_history_and_verify_intact(tmp_path: Path, store: str) -> None:
    cases = Cases(tmp_path / "home")
    case = walk(cases)
    analytics_before = cases("analytics").json

    key_file = tmp_path / "home" / "keys" / "members.sqlite"
    with sqlite3.connect(key_file) as keys:
        wrapped = [bytes(r[0]) for r in keys.execute("SELECT wrapped FROM member_keys")]
    assert len(wrapped) == 1

    refused = cases("erase", case, "--reason", "member's request")
    assert refused.code == 1 and refused.json["reason"] == "case_open"
    assert cases("close", case).code == 0
    erased = cases("erase", case, "--reason", "member's request")
    assert erased.code == 0, erased.stderr
    assert erased.json["cases"] == [case] and erased.json["erased"]

    replay = cases("replay", case, "--reveal").json
    identity = next(e for e in replay["events"] if e["type"] == "member_identified")["data"]["identity"]
    assert set(identity.values()) == {"[erased]"}
    opened = next(e for e in replay["events"] if e["type"] == "case_opened")["data"]
    assert opened["diagnosis"]["summary"] == "[erased]" and opened["proposed_treatment"] == "[erased]"
    erasure = [e for e in replay["events"] if e["type"] == "member_erased"]
    assert len(erasure) == 1 and erasure[0]["data"]["reason"] == "member's request"
    assert [e["type"] for e in replay["events"]].count("opinion_submitted") == 1  # history intact
    assert replay["state"]["status"] == "closed"
    assert not [e for e in replay["events"] if e["type"] == "identity_revealed"]  # nothing was readable

    assert cases("verify").json["ok"] is True
    assert cases("analytics").json == analytics_before
    # Nothing of the member is left to read: not in the stores, not in the key store.
    blob = stored_bytes(tmp_path / "home").lower()
    assert not [t for t in IDENTIFIERS if t.lower().encode() in blob]
    # The wrapped key is gone from the key store, bytes and all (secure delete, vacuum).
    assert wrapped[0] not in key_file.read_bytes()
    with sqlite3.connect(key_file) as keys:
        assert keys.execute("SELECT COUNT(*) FROM member_keys").fetchone()[0] == 0
    # Again: the same answer, nothing more recorded.
    again = cases("erase", case, "--reason", "member's request")
    assert again.code == 0 and again.json == erased.json
    assert [e["type"] for e in cases("replay", case).json["events"]].count("member_erased") == 1


@pytest.mark.parametrize("field", ["--reason"])
def test_erase_needs_a_reason(tmp_path: Path, field: str) -> None:
    cases = Cases(tmp_path / "home")
    case = walk(cases)
    done = cases("erase", case, "--reason", "  ")
    assert done.code == 2 and done.json["field"] == field
