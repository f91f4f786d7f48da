"""The evidence bundle is signed by the deployment: a manifest of every file's SHA-256 and an
Ed25519 signature over it. Checked offline, it names each changed, missing or extra file,
and a bundle re-signed by anyone else fails once the deployment's key is required."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.bootstrap import load_keys
from services.reporting.audit import signing
from services.reporting.audit.evidence import NotItsOwnDirectory, write_evidence
from services.reporting.replay import replay
from tests.fixtures import Desk
from tests.unit.reporting.test_replay_findings import third_party_walk_with_gp_share

SEED = bytes(range(32))
OTHER_SEED = bytes(range(1, 33))
MOMENT = datetime(2025, 6, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A signed bundle of two small files, as write_evidence lays one out."""
    directory = tmp_path / "bundle"
    directory.mkdir()
    files = [directory / "replay-c.json", directory / "fhir-bundle-c.json"]
    files[0].write_text('{"case_id": "c", "events": []}\n')
    files[1].write_text('{"resourceType": "Bundle"}\n')
    signing.sign_bundle(directory, files, SEED, case_id="c", generated_at=MOMENT)
    return directory


def test_the_exported_evidence_is_signed_by_the_deployment_and_checks(desk: Desk, tmp_path: Path) -> None:
    case, events = third_party_walk_with_gp_share(desk)
    seed = load_keys(desk.home, create=False).signing
    result = {"case_id": str(case), "as_of": None, **replay(events)}
    written = write_evidence(tmp_path / "evidence", result, events, signing_seed=seed, generated_at=MOMENT)

    directory = (tmp_path / "evidence").resolve()
    public_key = signing.public_key_hex(seed)
    assert written["signed"] == {"bundle": str(directory), "manifest": str(directory / "manifest.json"),
                                 "signature": str(directory / "manifest.sig"), "public_key": public_key}
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [f"fhir-bundle-{case}.json", "manifest.json", "manifest.sig", f"replay-{case}.json"])
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["case_id"] == str(case) and manifest["generated_at"] == MOMENT.isoformat()
    assert manifest["public_key"] == public_key
    assert [f["name"] for f in manifest["files"]] == [f"replay-{case}.json", f"fhir-bundle-{case}.json"]
    assert all(f["sha256"] == signing.sha256_file(directory / f["name"]) for f in manifest["files"])

    checked = signing.check_bundle(directory, public_key)
    assert checked["ok"] is True and checked["signature"] == "valid"
    assert checked["files"] == [f"replay-{case}.json", f"fhir-bundle-{case}.json"]
    assert checked["changed"] == checked["missing"] == checked["unexpected"] == checked["problems"] == []
    assert checked["public_key"] == public_key and checked["case_id"] == str(case)

    # a re-export to the same directory replaces the bundle; a directory with other files is refused
    write_evidence(directory, result, events, signing_seed=seed)
    assert signing.check_bundle(directory, public_key)["ok"] is True
    (directory / "notes.txt").write_text("mine")
    with pytest.raises(NotItsOwnDirectory, match=r"notes\.txt"):
        write_evidence(directory, result, events, signing_seed=seed)


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
    (bundle / "later.json").write_text("{}")
    checked = signing.check_bundle(bundle)
    assert checked["ok"] is False
    assert checked["missing"] == ["fhir-bundle-c.json"]
    assert checked["unexpected"] == ["later.json"]
    assert checked["changed"] == []


def test_a_manifest_rewritten_to_match_an_edit_breaks_the_signature(bundle: Path) -> None:
    path = bundle / "replay-c.json"
    path.write_text('{"case_id": "c", "events": ["forged"]}\n')
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"][0]["sha256"] = signing.sha256_file(path)
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
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
    (bundle / "manifest.sig").unlink()
    checked = signing.check_bundle(bundle)
    assert checked["ok"] is False and checked["signature"] == "invalid" and checked["missing"] == ["manifest.sig"]

    (bundle / "manifest.json").write_text("not json")
    checked = signing.check_bundle(bundle)
    assert checked["ok"] is False and checked["signature"] == "invalid"
    assert checked["problems"] and "not a bundle manifest" in checked["problems"][0]


def test_a_manifest_cannot_point_outside_the_bundle(bundle: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    manifest = {"format": signing.FORMAT, "case_id": "c", "generated_at": MOMENT.isoformat(),
                "files": [{"name": "../outside.json", "bytes": 2, "sha256": signing.sha256_file(outside)}],
                "public_key": signing.public_key_hex(SEED), "algorithm": "Ed25519"}
    raw = json.dumps(manifest).encode()
    (bundle / "manifest.json").write_bytes(raw)
    (bundle / "manifest.sig").write_text(signing.sign(raw, SEED))
    checked = signing.check_bundle(bundle)
    assert checked["ok"] is False and checked["files"] == []


def test_no_directory_or_no_manifest_is_not_a_bundle(bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(signing.NotABundle):
        signing.check_bundle(tmp_path / "nowhere")
    with pytest.raises(signing.NotABundle):
        signing.check_bundle(bundle / "replay-c.json")
    (bundle / "manifest.json").unlink()
    with pytest.raises(signing.NotABundle, match=r"manifest\.json"):
        signing.check_bundle(bundle)
