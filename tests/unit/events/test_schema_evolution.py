"""Schema evolution: compatible changes only within a version, an upcaster for every earlier
version, and a home written by an earlier release still read by the current code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from events.codec import decode
from events.registry import REGISTRY
from events.schema_export import SCHEMA_DIR, breaking_changes, older_versions, rendered
from events.upcasting import UPCASTERS
from tests.e2e.cli import Cases

V1_HOME = Path(__file__).resolve().parents[2] / "data" / "v1_home"
V1_CASE = "678e083e-9c12-452f-a2c1-af623d832560"


def test_no_committed_schema_is_broken_within_its_version() -> None:
    for name, text in rendered().items():
        committed = SCHEMA_DIR / name
        assert not breaking_changes(json.loads(committed.read_text()), json.loads(text)), name


def test_every_earlier_version_has_an_upcaster_to_the_next() -> None:
    assert older_versions(), "at least one event has a v2"
    for name, versions in older_versions().items():
        for version in versions:
            assert (name, version) in UPCASTERS, f"{name} v{version} has no upcaster"


def test_breaking_changes_are_named() -> None:
    old = {"properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}
    assert breaking_changes(old, {**old, "properties": {**old["properties"], "c": {"type": "string"}}}) == []
    assert breaking_changes(old, {"properties": {"a": {"type": "string"}}, "required": ["a"]}) == ["b: removed"]
    assert breaking_changes(old, {**old, "required": ["a", "b"]}) == ["b: now required"]
    changed = {**old, "properties": {**old["properties"], "b": {"type": "string"}}}
    assert breaking_changes(old, changed) == ["b: type changed from integer to string"]


def test_a_v1_member_identified_upcasts_and_reads_as_redacted() -> None:
    v1 = {"type": "member_identified", "schema_version": 1, "event_id": "00000000-0000-4000-8000-000000000001",
          "originator_id": "00000000-0000-4000-8000-000000000002", "originator_version": 2,
          "occurred_at": "2025-06-12T08:00:00+00:00", "actor": "user:x", "causation_id": None,
          "correlation_id": None, "case_id": "00000000-0000-4000-8000-000000000002",
          "member_ref": "00000000-0000-4000-8000-000000000003",
          "identity": {"name": "Jane Doe", "date_of_birth": "1980-04-02", "nhs_number": "9434765919",
                       "postcode": "SW1A 1AA"}, "gp": None}
    event = decode(json.dumps(v1).encode())
    assert event.schema_version == REGISTRY["member_identified"].schema_version == 2


def test_a_home_written_by_the_previous_release_replays_verifies_and_takes_new_cases(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(V1_HOME, home)
    cases = Cases(home)
    assert cases("show", V1_CASE).json["status"] == "closed"
    replay = cases("replay", V1_CASE).json
    identity = next(e for e in replay["events"] if e["type"] == "member_identified")["data"]["identity"]
    assert set(identity.values()) == {"[redacted]"}  # v1 plaintext is never shown
    assert replay["state"]["status"] == "closed" and replay["findings"] == []
    assert cases("verify").json["ok"] is True
    opened = cases("open", cases.write("case.json", json.loads((Path(__file__).resolve().parents[3]
                                                                  / "examples" / "case.json").read_text())))
    assert opened.code == 0, opened.stderr
    assert cases("verify").json["ok"] is True
