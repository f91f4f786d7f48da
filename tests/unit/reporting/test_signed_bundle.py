"""The evidence bundle is signed by the deployment: per case, a manifest of every file's
SHA-256 and an Ed25519 signature over it, side by side with other cases' in one directory.
Checked offline, it names each changed, missing or extra file over every manifest, a bundle
re-signed by anyone else fails once the deployment's key is required, and a file that is
no part of any bundle is listed but allowed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.bootstrap import load_keys
from services.reporting.audit import signing
from services.reporting.audit.evidence import write_evidence
from services.reporting.replay import case_events, replay
from tests.fixtures import Desk
from tests.unit.reporting.test_replay_findings import third_party_walk_with_gp_share

SEED = bytes(range(32))
OTHER_SEED = bytes(range(1, 33))
MOMENT = datetime(2025, 6, 20, 12, 0, tzinfo=UTC)


def sign_case(directory: Path, case: str, seed: bytes = SEED) -> list[Path]:
    """A case's two small files and its manifest, as write_evidence lays them out."""
    files = [directory / f"replay-{case}.json", directory / f"fhir-bundle-{case}.json"]
    files[0].write_text(f'{{"case_id": "{case}", "events": []}}\n')
    files[1].write_text('{"resourceType": "Bundle"}\n')
    signing.sign_bundle(directory, files, seed, case_id=case, generated_at=MOMENT)
    return files


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A directory with one signed bundle of two small files."""
    directory = tmp_path / "bundle"
    directory.mkdir()
    sign_case(directory, "c")
    return directory


@pytest.fixture
def two(tmp_path: Path) -> Path:
    """A directory with the signed bundles of two cases, a and b."""
    directory = tmp_path / "two"
    directory.mkdir()
    sign_case(directory, "a")
    sign_case(directory, "b")
    return directory


def test_the_exported_evidence_is_signed_by_the_deployment_and_checks(desk: Desk, tmp_path: Path) -> None:
    case, events = third_party_walk_with_gp_share(desk)
    seed = load_keys(desk.home, create=False).signing
    result = {"case_id": str(case), "as_of": None, **replay(events)}
    written = write_evidence(tmp_path / "evidence", result, events, signing_seed=seed, generated_at=MOMENT)

    directory = (tmp_path / "evidence").resolve()
    public_key = signing.public_key_hex(seed)
    assert written["signed"] == {"bundle": str(directory), "manifest": str(directory / f"manifest-{case}.json"),
                                 "signature": str(directory / f"manifest-{case}.sig"), "public_key": public_key}
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [f"fhir-bundle-{case}.json", f"manifest-{case}.json", f"manifest-{case}.sig", f"replay-{case}.json"])
    manifest = json.loads((directory / f"manifest-{case}.json").read_text())
    assert manifest["case_id"] == str(case) and manifest["generated_at"] == MOMENT.isoformat()
    assert manifest["public_key"] == public_key
    assert [f["name"] for f in manifest["files"]] == [f"replay-{case}.json", f"fhir-bundle-{case}.json"]
    assert all(f["sha256"] == signing.sha256_file(directory / f["name"]) for f in manifest["files"])

    checked = signing.check_bundle(directory, public_key)
    assert checked["ok"] is True and checked["signature"] == "valid"
    assert checked["files"] == [f"replay-{case}.json", f"fhir-bundle-{case}.json"]
    assert checked["changed"] == checked["missing"] == checked["unexpected"] == checked["problems"] == []
    assert checked["public_key"] == public_key and checked["case_id"] == str(case)
    assert checked["cases"] == [str(case)] and checked["generated_at"] == MOMENT.isoformat()

    # a re-export to the same directory replaces the case's bundle; other files are left alone
    (directory / "notes.txt").write_text("mine")
    write_evidence(directory, result, events, signing_seed=seed)
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [f"fhir-bundle-{case}.json", f"manifest-{case}.json", f"manifest-{case}.sig", "notes.txt",
         f"replay-{case}.json"])
    again = signing.check_bundle(directory, public_key)
    assert again["ok"] is True and again["unexpected"] == ["notes.txt"]
    assert again["generated_at"] != MOMENT.isoformat()  # the new manifest, not the old one
    assert (directory / "notes.txt").read_text() == "mine"


def test_two_cases_exported_into_one_directory_both_verify(desk: Desk, tmp_path: Path) -> None:
    first, first_events = third_party_walk_with_gp_share(desk)
    second = desk.open()
    desk.act(desk.rt.records.grant_consent, second, "records_access", "portal")
    second_events = case_events(desk.rt.services, second)
    seed = load_keys(desk.home, create=False).signing
    directory = tmp_path / "evidence"
    for case, events in ((first, first_events), (second, second_events)):
        result = {"case_id": str(case), "as_of": None, **replay(events)}
        written = write_evidence(directory, result, events, signing_seed=seed, generated_at=MOMENT)
        assert written["signed"]["manifest"] == str(directory.resolve() / f"manifest-{case}.json")

    checked = signing.check_bundle(directory, signing.public_key_hex(seed))
    assert checked["ok"] is True and checked["signature"] == "valid" and checked["problems"] == []
    assert checked["cases"] == sorted([str(first), str(second)]) and checked["case_id"] is None
    assert sorted(checked["files"]) == sorted(f"{kind}-{case}.json" for case in (first, second)
                                              for kind in ("replay", "fhir-bundle"))
    assert checked["changed"] == checked["missing"] == checked["unexpected"] == []


def test_an_untouched_bundle_is_ok(bundle: Path) -> None:
    checked = signing.check_bundle(bundle)
    assert checked["ok"] is True and checked["signature"] == "valid"
    assert checked["public_key"] == signing.public_key_hex(SEED)
    assert checked["files"] == ["replay-c.json", "fhir-bundle-c.json"]


def test_one_byte_changed_names_that_file(bundle: Path) -> None:
    path = bundle / "replay-c.json"
    data = bytearray(path.read_bytes())
    data[3] ^= 0x01
    path.write_bytes(bytes(data))
    checked = signing.check_bundle(bundle)
    assert checked["ok"] is False
    assert checked["changed"] == ["replay-c.json"]
    assert checked["missing"] == checked["unexpected"] == []
    assert checked["signature"] == "valid"  # the manifest itself is intact


def test_a_deleted_file_is_missing_and_an_added_one_unexpected(bundle: Path) -> None:
    (bundle / "fhir-bundle-c.json").unlink()
    (bundle / "replay-later.json").write_text("{}")
    checked = signing.check_bundle(bundle)
    assert checked["ok"] is False
    assert checked["missing"] == ["fhir-bundle-c.json"]
    assert checked["unexpected"] == ["replay-later.json"]
    assert checked["changed"] == []


def test_in_two_bundles_one_byte_changed_in_b_names_that_file(two: Path) -> None:
    path = two / "replay-b.json"
    data = bytearray(path.read_bytes())
    data[3] ^= 0x01
    path.write_bytes(bytes(data))
    checked = signing.check_bundle(two)
    assert checked["ok"] is False and checked["cases"] == ["a", "b"]
    assert checked["changed"] == ["replay-b.json"]
    assert checked["missing"] == checked["unexpected"] == checked["problems"] == []
    assert checked["signature"] == "valid"


def test_in_two_bundles_a_deleted_signature_is_missing(two: Path) -> None:
    (two / "manifest-a.sig").unlink()
    checked = signing.check_bundle(two)
    assert checked["ok"] is False and checked["signature"] == "invalid"
    assert checked["missing"] == ["manifest-a.sig"] and checked["changed"] == checked["unexpected"] == []
    assert checked["files"] == ["replay-a.json", "fhir-bundle-a.json", "replay-b.json", "fhir-bundle-b.json"]


@pytest.mark.parametrize("name", ["replay-x.json", "fhir-bundle-x.json", "manifest-x.sig", "manifest-x.txt",
                                  "Replay-X.JSON"])
def test_an_added_file_that_looks_like_a_bundle_fails_as_unexpected(two: Path, name: str) -> None:
    (two / name).write_text("{}")
    checked = signing.check_bundle(two)
    assert checked["ok"] is False and checked["unexpected"] == [name]
    assert checked["changed"] == checked["missing"] == checked["problems"] == []
    assert checked["signature"] == "valid"


def test_an_added_file_that_is_no_part_of_a_bundle_is_listed_but_allowed(two: Path) -> None:
    (two / "notes.txt").write_text("mine")
    (two / "scans").mkdir()
    checked = signing.check_bundle(two)
    assert checked["ok"] is True and checked["unexpected"] == ["notes.txt", "scans"]


def test_an_added_manifest_nobody_signed_fails(two: Path) -> None:
    raw = signing.manifest_bytes([two / "replay-a.json"], case_id="x", generated_at=MOMENT,
                                 public_key=signing.public_key_hex(SEED))
    (two / "manifest-x.json").write_bytes(raw)
    checked = signing.check_bundle(two)
    assert checked["ok"] is False and checked["cases"] == ["a", "b", "x"]
    assert checked["missing"] == ["manifest-x.sig"] and checked["signature"] == "invalid"


def test_a_manifest_renamed_to_another_case_is_a_problem(two: Path) -> None:
    for suffix in (".json", ".sig"):
        (two / f"manifest-b{suffix}").rename(two / f"manifest-z{suffix}")
    checked = signing.check_bundle(two)
    assert checked["ok"] is False and checked["cases"] == ["a", "z"]
    assert checked["signature"] == "valid"
    assert any("manifest-z.json is the manifest of case b" in p for p in checked["problems"])


def test_manifests_that_name_different_signers_fail(two: Path) -> None:
    sign_case(two, "b", OTHER_SEED)
    checked = signing.check_bundle(two)
    assert checked["signature"] == "valid" and checked["ok"] is False and checked["public_key"] is None
    assert any("different signers" in p for p in checked["problems"])

    pinned = signing.check_bundle(two, signing.public_key_hex(SEED))
    assert pinned["ok"] is False and pinned["signature"] == "invalid"
    assert any("manifest-b.json names the signer" in p for p in pinned["problems"])


def test_a_manifest_rewritten_to_match_an_edit_breaks_the_signature(bundle: Path) -> None:
    path = bundle / "replay-c.json"
    path.write_text('{"case_id": "c", "events": ["forged"]}\n')
    manifest = json.loads((bundle / "manifest-c.json").read_text())
    manifest["files"][0]["sha256"] = signing.sha256_file(path)
    (bundle / "manifest-c.json").write_text(json.dumps(manifest, indent=2))
    checked = signing.check_bundle(bundle)
    assert checked["changed"] == []
    assert checked["signature"] == "invalid" and checked["ok"] is False


def test_a_bundle_re_signed_by_another_key_fails_when_the_deployment_key_is_required(bundle: Path) -> None:
    files = [bundle / "replay-c.json", bundle / "fhir-bundle-c.json"]
    files[0].write_text('{"case_id": "c", "events": ["forged"]}\n')
    signing.sign_bundle(bundle, files, OTHER_SEED, case_id="c", generated_at=MOMENT)

    # on its own it is consistent: its signer is simply someone else
    alone = signing.check_bundle(bundle)
    assert alone["ok"] is True and alone["public_key"] == signing.public_key_hex(OTHER_SEED)

    required = signing.check_bundle(bundle, signing.public_key_hex(SEED))
    assert required["ok"] is False and required["signature"] == "invalid"
    assert required["required_public_key"] == signing.public_key_hex(SEED)
    assert any("not the required" in p for p in required["problems"])


def test_a_missing_signature_or_an_unreadable_manifest_fails(bundle: Path) -> None:
    (bundle / "manifest-c.sig").unlink()
    checked = signing.check_bundle(bundle)
    assert checked["ok"] is False and checked["signature"] == "invalid" and checked["missing"] == ["manifest-c.sig"]

    (bundle / "manifest-c.json").write_text("not json")
    checked = signing.check_bundle(bundle)
    assert checked["ok"] is False and checked["signature"] == "invalid"
    assert checked["problems"] and "not a bundle manifest" in checked["problems"][0]
    assert checked["cases"] == ["c"] and checked["files"] == []


def test_a_manifest_cannot_point_outside_the_bundle(bundle: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    manifest = {"format": signing.FORMAT, "case_id": "c", "generated_at": MOMENT.isoformat(),
                "files": [{"name": "../outside.json", "bytes": 2, "sha256": signing.sha256_file(outside)}],
                "public_key": signing.public_key_hex(SEED), "algorithm": "Ed25519"}
    raw = json.dumps(manifest).encode()
    (bundle / "manifest-c.json").write_bytes(raw)
    (bundle / "manifest-c.sig").write_text(signing.sign(raw, SEED))
    checked = signing.check_bundle(bundle)
    assert checked["ok"] is False and checked["files"] == []


def test_no_directory_or_no_manifest_is_not_a_bundle(bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(signing.NotABundle):
        signing.check_bundle(tmp_path / "nowhere")
    with pytest.raises(signing.NotABundle):
        signing.check_bundle(bundle / "replay-c.json")
    (bundle / "manifest-c.json").unlink()
    (bundle / "manifest.json").write_text("{}")  # not a case's manifest
    with pytest.raises(signing.NotABundle, match=r"manifest-\*\.json"):
        signing.check_bundle(bundle)
