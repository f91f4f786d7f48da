"""The deployment's signature on an evidence bundle, and its offline check.

A bundle is one case's evidence files (`replay-CASE.json`, `fhir-bundle-CASE.json`) with
`manifest-CASE.json` (the format, the case, when it was made, each file's name, size and
SHA-256, and the signer's Ed25519 public key) and `manifest-CASE.sig` (the Ed25519 signature
over the exact bytes of manifest-CASE.json, in hex), all side by side in one directory. The
directory is not the bundle's own: an auditor may export several cases into it (each
case's files and manifest are its own; a re-export of a case replaces them) and keep other
things there too.

The check of a directory needs nothing but the directory (and, to insist on a signer, that
signer's key). It checks every `manifest-*.json` in it, each against its own `.sig`, and
reports over all of them: every file whose bytes changed, every listed file missing (and
every missing `manifest-CASE.sig`), and whether every signature holds (`signature` is
"valid" only if each does). The manifests must name one signer (the required one, when
given). `unexpected` lists what is in the directory that no manifest lists and is neither
a checked manifest nor its signature. Since the directory may legitimately hold other
things, an unexpected file fails the check only where its name looks like part of a bundle
(`replay-*.json`, `fhir-bundle-*.json`, `manifest-*`, in any letter case): a replay, FHIR
bundle, manifest or signature that nobody signed is a finding; a `notes.txt` is listed
and no more. A directory with no manifest at all is not a bundle (NotABundle). What the check
cannot see is a whole case taken away: its files, manifest and signature deleted together.

Pure functions: bytes, paths and keys in, results out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

FORMAT = "second-opinion-cases/evidence-bundle/1"
MANIFEST_PREFIX = "manifest-"
MANIFEST_SUFFIX, SIGNATURE_SUFFIX = ".json", ".sig"
#: names that look like part of a bundle: unsigned, they fail the check (anything else is only listed)
BUNDLE_LIKE = ("replay-*.json", "fhir-bundle-*.json", "manifest-*")
PUBLIC_KEY = re.compile(r"[0-9a-f]{64}")
SHA256 = re.compile(r"[0-9a-f]{64}")


class NotABundle(ValueError):
    """The directory is not an evidence bundle at all (none, or no manifest-*.json in it)."""


def manifest_name(case_id: str) -> str:
    return f"{MANIFEST_PREFIX}{case_id}{MANIFEST_SUFFIX}"


def signature_name(case_id: str) -> str:
    return f"{MANIFEST_PREFIX}{case_id}{SIGNATURE_SUFFIX}"


def looks_like_bundle_file(name: str) -> bool:
    """Whether a file name looks like part of a bundle (a replay, a FHIR bundle, a manifest
    or its signature), in any letter case."""
    lowered = name.lower()
    return any(fnmatchcase(lowered, pattern) for pattern in BUNDLE_LIKE)


def _plain_name(name: str) -> bool:
    """A plain file name in the directory, never a path out of it."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name


def private_key(seed: bytes) -> Ed25519PrivateKey:
    if len(seed) != 32:
        raise ValueError("an Ed25519 seed is 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_hex(seed: bytes) -> str:
    """The public half of the signing key the seed makes, as 64 hex digits."""
    return private_key(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def is_public_key(text: str) -> bool:
    return PUBLIC_KEY.fullmatch(text) is not None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_bytes(files: Sequence[Path], *, case_id: str, generated_at: datetime, public_key: str) -> bytes:
    """The manifest of the files (all in one directory), as the bytes to sign and store."""
    manifest = {
        "format": FORMAT,
        "case_id": case_id,
        "generated_at": generated_at.isoformat(),
        "files": [{"name": f.name, "bytes": f.stat().st_size, "sha256": sha256_file(f)} for f in files],
        "public_key": public_key,
        "algorithm": "Ed25519",
    }
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n"


def sign(manifest: bytes, seed: bytes) -> str:
    """The Ed25519 signature over the manifest's bytes, in hex."""
    return private_key(seed).sign(manifest).hex()


def signature_holds(manifest: bytes, signature_hex: str, public_key: str) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key))
        key.verify(bytes.fromhex(signature_hex.strip()), manifest)
    except (ValueError, InvalidSignature):
        return False
    return True


def sign_bundle(directory: Path, files: Sequence[Path], seed: bytes, *, case_id: str,
                generated_at: datetime) -> tuple[Path, Path]:
    """Write manifest-CASE.json and manifest-CASE.sig beside the files (replacing the case's
    earlier ones; other cases' are left alone); return their paths."""
    if not _plain_name(manifest_name(case_id)):
        raise ValueError(f"a case id to name a manifest by is a plain name, not {case_id!r}")
    manifest = manifest_bytes(files, case_id=case_id, generated_at=generated_at, public_key=public_key_hex(seed))
    manifest_path, signature_path = directory / manifest_name(case_id), directory / signature_name(case_id)
    manifest_path.write_bytes(manifest)
    signature_path.write_text(sign(manifest, seed) + "\n")
    return manifest_path, signature_path


def _is_manifest(name: str) -> bool:
    return (name.startswith(MANIFEST_PREFIX) and name.endswith(MANIFEST_SUFFIX)
            and len(name) > len(MANIFEST_PREFIX) + len(MANIFEST_SUFFIX))


def _listed(manifest: Any) -> list[dict[str, str]] | None:
    """The manifest's file entries, or None where it is not a manifest this check reads."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    files = manifest.get("files")
    if not isinstance(files, list) or not isinstance(manifest.get("public_key"), str):
        return None
    entries = []
    for f in files:
        if not (isinstance(f, dict) and isinstance(f.get("name"), str) and isinstance(f.get("sha256"), str)):
            return None
        name = f["name"]
        # a plain file name in the directory, never a path out of it, nor a manifest or signature
        if not _plain_name(name) or name.lower().startswith(MANIFEST_PREFIX):
            return None
        entries.append({"name": name, "sha256": f["sha256"]})
    return entries


def _check_manifest(directory: Path, name: str, public_key: str | None) -> dict[str, Any]:
    """One manifest in the directory: its case, signer, entries, signature and problems."""
    case_id = name[len(MANIFEST_PREFIX):-len(MANIFEST_SUFFIX)]
    raw = (directory / name).read_bytes()
    problems: list[str] = []
    try:
        manifest = orjson.loads(raw)
    except orjson.JSONDecodeError:
        manifest = None
    entries = _listed(manifest)
    if entries is None:
        problems.append(f"{name} is not a bundle manifest (format {FORMAT})")
        manifest, entries = {}, []
    elif manifest.get("case_id") != case_id:
        problems.append(f"{name} is the manifest of case {manifest.get('case_id')}, not of {case_id}")
    named_key = manifest.get("public_key")
    signer = public_key or named_key
    signature = signature_name(case_id)
    signature_path = directory / signature
    signature_text = signature_path.read_text(errors="replace") if signature_path.is_file() else None
    valid = bool(signer) and signature_text is not None and signature_holds(raw, signature_text, str(signer))
    if signature_text is not None and not valid:
        problems.append(f"{signature} does not verify against {signer or 'any key'}")
    if public_key is not None and named_key is not None and named_key != public_key:
        problems.append(f"{name} names the signer {named_key}, not the required {public_key}")
    return {"case_id": case_id, "generated_at": manifest.get("generated_at"), "public_key": named_key,
            "entries": entries, "signature": signature, "signed": signature_text is not None,
            "valid": valid, "problems": problems}


def check_bundle(directory: Path, public_key: str | None = None) -> dict[str, Any]:
    """Check every case's bundle in the directory offline. `public_key` (hex), when given, is
    the signer required: each signature is checked against it rather than against the key
    its manifest names.

    Raises NotABundle where there is no directory or no manifest-*.json in it."""
    if not directory.is_dir():
        raise NotABundle(f"{directory} is not a directory" if directory.exists() else f"no such directory: {directory}")
    present = {p.name: p for p in directory.iterdir()}
    names = sorted(name for name, path in present.items() if _is_manifest(name) and path.is_file())
    if not names:
        raise NotABundle(f"no {manifest_name('*')} in {directory}: not an evidence bundle")
    manifests = [_check_manifest(directory, name, public_key) for name in names]

    problems = [p for m in manifests for p in m["problems"]]
    signers = {m["public_key"] for m in manifests if m["public_key"] is not None}
    if len(signers) > 1:
        problems.append("the manifests name different signers: " + ", ".join(
            f"{name} {m['public_key']}" for name, m in zip(names, manifests, strict=True) if m["public_key"]))
    files: list[str] = []
    changed: list[str] = []
    missing: list[str] = []
    for m in manifests:
        for entry in m["entries"]:
            path = present.get(entry["name"])
            found: list[str] | None
            if path is None or not path.is_file():
                found = missing
            elif sha256_file(path) != entry["sha256"]:
                found = changed
            else:
                found = None
            if found is not None and entry["name"] not in found:
                found.append(entry["name"])
            if entry["name"] not in files:
                files.append(entry["name"])
        if not m["signed"]:
            missing.append(m["signature"])
    own = {*files, *names, *(m["signature"] for m in manifests)}
    unexpected = sorted(name for name in present if name not in own)
    single = manifests[0] if len(manifests) == 1 else None
    return {
        "ok": not (problems or changed or missing or any(looks_like_bundle_file(n) for n in unexpected)),
        "bundle": str(directory),
        "case_id": single["case_id"] if single else None,
        "cases": [m["case_id"] for m in manifests],
        "generated_at": single["generated_at"] if single else None,
        "files": files,
        "changed": changed,
        "missing": missing,
        "unexpected": unexpected,  # only those that look like part of a bundle fail the check
        "signature": "valid" if all(m["valid"] for m in manifests) else "invalid",
        "public_key": signers.pop() if len(signers) == 1 else None,
        "required_public_key": public_key,
        "problems": problems,  # what is wrong beyond the files named above
    }
