"""`cases replay --export` signs each case's evidence with the deployment's key, beside other
cases' in one directory; `cases verify --bundle` checks every bundle in it offline, through
the real command line, and names whatever was changed, taken away or added."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import pytest

from services.reporting.audit import signing
from tests.e2e.cli import Cases
from tests.fixtures import policy, request


class Deployment(NamedTuple):
    cases: Cases
    a: str  # the two cases, a < b as their manifests sort
    b: str
    public_key: str
    pristine: Path  # both cases exported into it


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """Two cases with a consent each, the public key, and both exported into one directory
    (kept pristine: each test tampers with a copy)."""
    root = tmp_path_factory.mktemp("signed")
    cases = Cases(root / "home")
    assert cases("policies", "load", cases.write("policies.json", {"policies": [policy()]})).code == 0
    opened = []
    for _ in range(2):
        case = cases("open", cases.write("case.json", request()))
        assert case.code == 0, case.stderr
        opened.append(case.json["case_id"])
        assert cases("consent", "grant", opened[-1], "--scope", "records_access").code == 0
    key = cases("signing-key")
    assert key.code == 0, key.stderr
    public_key = key.json["public_key"]
    pristine = root / "pristine"
    for case in opened:
        exported = cases("replay", case, "--export", str(pristine))
        assert exported.code == 0, exported.stderr
        assert exported.json["signed"] == {
            "bundle": str(pristine.resolve()), "manifest": str(pristine.resolve() / f"manifest-{case}.json"),
            "signature": str(pristine.resolve() / f"manifest-{case}.sig"), "public_key": public_key}
    a, b = sorted(opened)
    return Deployment(cases, a, b, public_key, pristine)


@pytest.fixture
def bundle(deployment: Deployment, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(deployment.pristine, copy)
    return copy


def evidence(case: str) -> list[str]:
    return [f"replay-{case}.json", f"fhir-bundle-{case}.json"]


def forge(replay_file: Path) -> None:
    """Rewrite the replay to claim a different actor for its first event."""
    replay = json.loads(replay_file.read_text())
    replay["events"][0]["actor"] = "user:somebody-else"
    replay_file.write_text(json.dumps(replay, indent=2) + "\n")


def offline(tmp_path: Path) -> Cases:
    """`cases` with a home that does not exist: the bundle check needs no store."""
    return Cases(tmp_path / "no-home")


def test_two_cases_exported_into_one_directory_both_verify_offline(deployment: Deployment, bundle: Path,
                                                                   tmp_path: Path) -> None:
    a, b, public_key = deployment.a, deployment.b, deployment.public_key
    assert sorted(p.name for p in bundle.iterdir()) == sorted(
        [*evidence(a), *evidence(b), f"manifest-{a}.json", f"manifest-{a}.sig", f"manifest-{b}.json",
         f"manifest-{b}.sig"])
    cases = offline(tmp_path)
    result = cases("verify", "--bundle", str(bundle), "--public-key", public_key)
    assert result.code == 0, result.stderr
    r = result.json
    assert r["ok"] is True and r["signature"] == "valid" and r["public_key"] == public_key
    assert r["bundle"] == str(bundle) and r["cases"] == [a, b] and r["case_id"] is None
    assert r["files"] == [*evidence(a), *evidence(b)]
    assert r["changed"] == r["missing"] == r["unexpected"] == r["problems"] == []
    assert not cases.home.exists()

    human = cases("verify", "--bundle", str(bundle), as_json=False)
    assert human.code == 0 and "OK" in human.stdout and "signature: valid" in human.stdout


def test_one_case_alone_names_its_case(deployment: Deployment, tmp_path: Path) -> None:
    cases, a = deployment.cases, deployment.a
    alone = tmp_path / "alone"
    assert cases("replay", a, "--export", str(alone)).code == 0
    r = offline(tmp_path)("verify", "--bundle", str(alone), "--public-key", deployment.public_key).json
    assert r["ok"] is True and r["case_id"] == a and r["cases"] == [a] and r["files"] == evidence(a)


def test_a_re_export_replaces_only_its_own_case(deployment: Deployment, bundle: Path, tmp_path: Path) -> None:
    cases, a, b = deployment.cases, deployment.a, deployment.b
    before = {p.name: p.read_bytes() for p in bundle.iterdir()}
    forge(bundle / f"replay-{a}.json")
    assert cases("replay", a, "--export", str(bundle)).code == 0
    after = {p.name: p.read_bytes() for p in bundle.iterdir()}
    assert sorted(after) == sorted(before)
    assert all(after[name] == before[name] for name in [*evidence(b), f"manifest-{b}.json", f"manifest-{b}.sig"])
    assert json.loads(after[f"replay-{a}.json"])["events"][0]["actor"] != "user:somebody-else"
    result = offline(tmp_path)("verify", "--bundle", str(bundle), "--public-key", deployment.public_key)
    assert result.code == 0 and result.json["cases"] == [a, b]


def test_one_byte_changed_in_case_b_replay_is_named(deployment: Deployment, bundle: Path, tmp_path: Path) -> None:
    replay_file = bundle / f"replay-{deployment.b}.json"
    data = bytearray(replay_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    replay_file.write_bytes(bytes(data))
    cases = offline(tmp_path)
    result = cases("verify", "--bundle", str(bundle), "--public-key", deployment.public_key)
    assert result.code == 1
    assert result.json["ok"] is False and result.json["changed"] == [replay_file.name]
    assert result.json["missing"] == result.json["unexpected"] == [] and result.json["signature"] == "valid"
    human = cases("verify", "--bundle", str(bundle), as_json=False)
    assert human.code == 1 and f"{replay_file.name}: CHANGED" in human.stdout


def test_a_deleted_file_or_signature_is_missing(deployment: Deployment, bundle: Path, tmp_path: Path) -> None:
    a = deployment.a
    (bundle / f"fhir-bundle-{a}.json").unlink()
    result = offline(tmp_path)("verify", "--bundle", str(bundle))
    assert result.code == 1
    assert result.json["missing"] == [f"fhir-bundle-{a}.json"] and result.json["unexpected"] == []

    shutil.rmtree(bundle)
    shutil.copytree(deployment.pristine, bundle)
    (bundle / f"manifest-{a}.sig").unlink()
    result = offline(tmp_path)("verify", "--bundle", str(bundle))
    assert result.code == 1
    assert result.json["missing"] == [f"manifest-{a}.sig"] and result.json["signature"] == "invalid"
    assert result.json["changed"] == result.json["unexpected"] == []


def test_an_added_replay_fails_as_unexpected(deployment: Deployment, bundle: Path, tmp_path: Path) -> None:
    (bundle / "replay-x.json").write_text("{}")
    cases = offline(tmp_path)
    result = cases("verify", "--bundle", str(bundle))
    assert result.code == 1
    assert result.json["ok"] is False and result.json["unexpected"] == ["replay-x.json"]
    assert result.json["missing"] == result.json["changed"] == [] and result.json["signature"] == "valid"
    human = cases("verify", "--bundle", str(bundle), as_json=False)
    assert human.code == 1 and "replay-x.json: NOT IN ANY MANIFEST" in human.stdout


def test_an_added_file_of_no_bundle_is_listed_but_ok(deployment: Deployment, bundle: Path, tmp_path: Path) -> None:
    (bundle / "notes.txt").write_text("mine")
    cases = offline(tmp_path)
    result = cases("verify", "--bundle", str(bundle), "--public-key", deployment.public_key)
    assert result.code == 0, result.stdout
    assert result.json["ok"] is True and result.json["unexpected"] == ["notes.txt"]
    human = cases("verify", "--bundle", str(bundle), as_json=False)
    assert human.code == 0 and "notes.txt: not in any manifest (allowed" in human.stdout


def test_a_tampered_manifest_has_an_invalid_signature(deployment: Deployment, bundle: Path, tmp_path: Path) -> None:
    """Edit the replay and rewrite its digest in the manifest: every hash matches, the signature does not."""
    a = deployment.a
    replay_file = bundle / f"replay-{a}.json"
    forge(replay_file)
    manifest = json.loads((bundle / f"manifest-{a}.json").read_text())
    manifest["files"][0]["sha256"] = signing.sha256_file(replay_file)
    (bundle / f"manifest-{a}.json").write_text(json.dumps(manifest, indent=2))
    result = offline(tmp_path)("verify", "--bundle", str(bundle))
    assert result.code == 1
    assert result.json["changed"] == [] and result.json["signature"] == "invalid"


def test_bundles_re_signed_by_another_key_fail_against_the_deployment_key(
        deployment: Deployment, bundle: Path, tmp_path: Path) -> None:
    a, b, public_key = deployment.a, deployment.b, deployment.public_key
    forge(bundle / f"replay-{a}.json")
    signing.sign_bundle(bundle, [bundle / name for name in evidence(a)], bytes(32), case_id=a,
                        generated_at=signing_time(bundle, a))
    cases = offline(tmp_path)

    mixed = cases("verify", "--bundle", str(bundle))  # one manifest signed by someone else
    assert mixed.code == 1 and mixed.json["signature"] == "valid" and mixed.json["public_key"] is None
    assert any("different signers" in p for p in mixed.json["problems"])

    signing.sign_bundle(bundle, [bundle / name for name in evidence(b)], bytes(32), case_id=b,
                        generated_at=signing_time(bundle, b))
    unpinned = cases("verify", "--bundle", str(bundle))
    assert unpinned.code == 0 and unpinned.json["public_key"] != public_key  # consistent, but not ours

    pinned = cases("verify", "--bundle", str(bundle), "--public-key", public_key)
    assert pinned.code == 1
    assert pinned.json["ok"] is False and pinned.json["signature"] == "invalid"
    assert pinned.json["required_public_key"] == public_key


def signing_time(bundle: Path, case: str) -> datetime:
    return datetime.fromisoformat(json.loads((bundle / f"manifest-{case}.json").read_text())["generated_at"])


def test_bad_input(deployment: Deployment, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file.json"
    not_a_dir.write_text("{}")
    checked = offline(tmp_path)("verify", "--bundle", str(not_a_dir))
    assert checked.code == 2 and checked.json == {"error": "bad_input", "field": "--bundle",
                                                   "problem": f"{not_a_dir} is not a directory"}
    assert offline(tmp_path)("verify", "--bundle", str(tmp_path / "none")).code == 2
    no_manifest = offline(tmp_path)("verify", "--bundle", str(tmp_path))
    assert no_manifest.code == 2 and no_manifest.json["field"] == "--bundle"
    bad_key = offline(tmp_path)("verify", "--bundle", str(deployment.pristine), "--public-key", "abc")
    assert bad_key.code == 2 and bad_key.json["field"] == "--public-key"

    # signing-key and export read the key; they never make one
    assert offline(tmp_path)("signing-key").code == 2


def test_export_into_a_directory_with_other_files(deployment: Deployment, tmp_path: Path) -> None:
    cases, a = deployment.cases, deployment.a
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "notes.txt").write_text("mine")
    exported = cases("replay", a, "--export", str(shared))
    assert exported.code == 0, exported.stderr
    assert sorted(p.name for p in shared.iterdir()) == sorted(
        [*evidence(a), f"manifest-{a}.json", f"manifest-{a}.sig", "notes.txt"])
    assert (shared / "notes.txt").read_text() == "mine"
    checked = offline(tmp_path)("verify", "--bundle", str(shared), "--public-key", deployment.public_key)
    assert checked.code == 0 and checked.json["unexpected"] == ["notes.txt"]


def test_export_without_a_deployment_key_is_bad_input(deployment: Deployment, tmp_path: Path) -> None:
    cases, a = deployment.cases, deployment.a
    home = tmp_path / "keyless"
    shutil.copytree(cases.home, home)
    (home / "deployment.key").unlink()
    result = Cases(home)("replay", a, "--export", str(tmp_path / "out"))
    assert result.code == 2 and result.json["field"] == "--export" and "deployment.key" in result.json["problem"]
    assert not (home / "deployment.key").exists() and not (tmp_path / "out").exists()
