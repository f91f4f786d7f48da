"""`cases replay --export` signs the evidence bundle with the deployment's key; `cases verify
--bundle` checks it offline, through the real command line, and names whatever was changed."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from services.reporting.audit import signing
from tests.e2e.cli import Cases
from tests.fixtures import policy, request


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cases, str, str, Path]:
    """A case with a consent, its public key, and a bundle exported from it (kept pristine:
    each test tampers with a copy)."""
    root = tmp_path_factory.mktemp("signed")
    cases = Cases(root / "home")
    assert cases("policies", "load", cases.write("policies.json", {"policies": [policy()]})).code == 0
    case = cases("open", cases.write("case.json", request())).json["case_id"]
    assert cases("consent", "grant", case, "--scope", "records_access").code == 0
    key = cases("signing-key")
    assert key.code == 0, key.stderr
    public_key = key.json["public_key"]
    exported = cases("replay", case, "--export", str(root / "pristine"))
    assert exported.code == 0, exported.stderr
    assert exported.json["signed"]["public_key"] == public_key
    return cases, case, public_key, root / "pristine"


@pytest.fixture
def bundle(deployment: tuple[Cases, str, str, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(deployment[3], copy)
    return copy


def forge(replay_file: Path) -> None:
    """Rewrite the replay to claim a different actor for its first event."""
    replay = json.loads(replay_file.read_text())
    replay["events"][0]["actor"] = "user:somebody-else"
    replay_file.write_text(json.dumps(replay, indent=2) + "\n")


def offline(tmp_path: Path) -> Cases:
    """`cases` with a home that does not exist: the bundle check needs no store."""
    return Cases(tmp_path / "no-home")


def test_export_then_verify_is_ok_offline(deployment: tuple[Cases, str, str, Path], bundle: Path,
                                          tmp_path: Path) -> None:
    _, case, public_key, _ = deployment
    cases = offline(tmp_path)
    result = cases("verify", "--bundle", str(bundle), "--public-key", public_key)
    assert result.code == 0, result.stderr
    r = result.json
    assert r["ok"] is True and r["signature"] == "valid" and r["public_key"] == public_key
    assert r["bundle"] == str(bundle)
    assert r["files"] == [f"replay-{case}.json", f"fhir-bundle-{case}.json"]
    assert r["changed"] == r["missing"] == r["unexpected"] == []
    assert not cases.home.exists()

    human = cases("verify", "--bundle", str(bundle), as_json=False)
    assert human.code == 0 and "OK" in human.stdout and "signature: valid" in human.stdout


def test_one_byte_changed_in_the_replay_is_named(deployment: tuple[Cases, str, str, Path], bundle: Path,
                                                 tmp_path: Path) -> None:
    _, case, public_key, _ = deployment
    replay_file = bundle / f"replay-{case}.json"
    data = bytearray(replay_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    replay_file.write_bytes(bytes(data))
    cases = offline(tmp_path)
    result = cases("verify", "--bundle", str(bundle), "--public-key", public_key)
    assert result.code == 1
    assert result.json["ok"] is False and result.json["changed"] == [replay_file.name]
    human = cases("verify", "--bundle", str(bundle), as_json=False)
    assert human.code == 1 and f"{replay_file.name}: CHANGED" in human.stdout


def test_a_deleted_file_is_missing_and_an_added_one_unexpected(deployment: tuple[Cases, str, str, Path],
                                                               bundle: Path, tmp_path: Path) -> None:
    _, case, _, _ = deployment
    (bundle / f"fhir-bundle-{case}.json").unlink()
    result = offline(tmp_path)("verify", "--bundle", str(bundle))
    assert result.code == 1
    assert result.json["missing"] == [f"fhir-bundle-{case}.json"] and result.json["unexpected"] == []

    shutil.rmtree(bundle)
    shutil.copytree(deployment[3], bundle)
    (bundle / "extra.json").write_text("{}")
    result = offline(tmp_path)("verify", "--bundle", str(bundle))
    assert result.code == 1
    assert result.json["unexpected"] == ["extra.json"] and result.json["missing"] == []


def test_a_tampered_manifest_has_an_invalid_signature(deployment: tuple[Cases, str, str, Path], bundle: Path,
                                                      tmp_path: Path) -> None:
    """Edit the replay and rewrite its digest in the manifest: every hash matches, the signature does not."""
    _, case, _, _ = deployment
    replay_file = bundle / f"replay-{case}.json"
    forge(replay_file)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"][0]["sha256"] = signing.sha256_file(replay_file)
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
    result = offline(tmp_path)("verify", "--bundle", str(bundle))
    assert result.code == 1
    assert result.json["changed"] == [] and result.json["signature"] == "invalid"


def test_a_bundle_re_signed_by_another_key_fails_against_the_deployment_key(
        deployment: tuple[Cases, str, str, Path], bundle: Path, tmp_path: Path) -> None:
    _, case, public_key, _ = deployment
    files = [bundle / f"replay-{case}.json", bundle / f"fhir-bundle-{case}.json"]
    forge(files[0])
    signing.sign_bundle(bundle, files, bytes(32), case_id=case, generated_at=signing_time(bundle))
    cases = offline(tmp_path)

    unpinned = cases("verify", "--bundle", str(bundle))
    assert unpinned.code == 0 and unpinned.json["public_key"] != public_key  # consistent, but not ours

    pinned = cases("verify", "--bundle", str(bundle), "--public-key", public_key)
    assert pinned.code == 1
    assert pinned.json["ok"] is False and pinned.json["signature"] == "invalid"
    assert pinned.json["required_public_key"] == public_key


def signing_time(bundle: Path) -> datetime:
    return datetime.fromisoformat(json.loads((bundle / "manifest.json").read_text())["generated_at"])


def test_bad_input(deployment: tuple[Cases, str, str, Path], tmp_path: Path) -> None:
    cases, case, _, pristine = deployment
    not_a_dir = tmp_path / "file.json"
    not_a_dir.write_text("{}")
    checked = offline(tmp_path)("verify", "--bundle", str(not_a_dir))
    assert checked.code == 2 and checked.json == {"error": "bad_input", "field": "--bundle",
                                                   "problem": f"{not_a_dir} is not a directory"}
    assert offline(tmp_path)("verify", "--bundle", str(tmp_path / "none")).code == 2
    assert offline(tmp_path)("verify", "--bundle", str(tmp_path)).json["field"] == "--bundle"  # no manifest
    bad_key = offline(tmp_path)("verify", "--bundle", str(pristine), "--public-key", "abc")
    assert bad_key.code == 2 and bad_key.json["field"] == "--public-key"

    # signing-key and export read the key; they never make one
    assert offline(tmp_path)("signing-key").code == 2
    empty = tmp_path / "other"
    empty.mkdir()
    (empty / "notes.txt").write_text("mine")
    refused = cases("replay", case, "--export", str(empty))
    assert refused.code == 2 and refused.json["field"] == "--export" and "notes.txt" in refused.json["problem"]
    assert sorted(p.name for p in empty.iterdir()) == ["notes.txt"]


def test_export_without_a_deployment_key_is_bad_input(deployment: tuple[Cases, str, str, Path],
                                                      tmp_path: Path) -> None:
    cases, case, _, _ = deployment
    home = tmp_path / "keyless"
    shutil.copytree(cases.home, home)
    (home / "deployment.key").unlink()
    result = Cases(home)("replay", case, "--export", str(tmp_path / "out"))
    assert result.code == 2 and result.json["field"] == "--export" and "deployment.key" in result.json["problem"]
    assert not (home / "deployment.key").exists() and not (tmp_path / "out").exists()
