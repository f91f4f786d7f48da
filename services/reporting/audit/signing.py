"""The deployment's signature on an evidence bundle, and its offline check.

A bundle is a directory of its own: the evidence files, `manifest.json` (the format, the
case, when it was made, each file's name, size and SHA-256, and the signer's Ed25519 public
key) and `manifest.sig` (the Ed25519 signature over the exact bytes of manifest.json, in hex).
The check needs nothing but the directory (and, to insist on a signer, that signer's key):
it names every file whose bytes changed, every listed file missing, every file not listed,
and whether the signature holds.

Pure functions: bytes, paths and keys in, results out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

FORMAT = "second-opinion-cases/evidence-bundle/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
BUNDLE_FILES = (MANIFEST, SIGNATURE)
PUBLIC_KEY = re.compile(r"[0-9a-f]{64}")
SHA256 = re.compile(r"[0-9a-f]{64}")


class NotABundle(ValueError):
    """The directory is not an evidence bundle at all (none, or no manifest.json)."""


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
    """Write manifest.json and manifest.sig beside the files; return their paths."""
    manifest = manifest_bytes(files, case_id=case_id, generated_at=generated_at, public_key=public_key_hex(seed))
    manifest_path, signature_path = directory / MANIFEST, directory / SIGNATURE
    manifest_path.write_bytes(manifest)
    signature_path.write_text(sign(manifest, seed) + "\n")
    return manifest_path, signature_path


def foreign_files(directory: Path, names: Sequence[str]) -> list[str]:
    """What in the directory is neither one of `names` nor the manifest and its signature:
    a bundle is a directory of its own, or its check would call those files unexpected."""
    if not directory.is_dir():
        return []
    allowed = {*names, *BUNDLE_FILES}
    return sorted(p.name for p in directory.iterdir() if p.name not in allowed)


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
        # a plain file name in the bundle, never a path out of it
        if not name or name in (".", "..") or "/" in name or "\\" in name or name in BUNDLE_FILES:
            return None
        entries.append({"name": name, "sha256": f["sha256"]})
    return entries


def check_bundle(directory: Path, public_key: str | None = None) -> dict[str, Any]:
    """Check a bundle offline. `public_key` (hex), when given, is the signer required: the
    signature is checked against it rather than against the key the manifest names.

    Raises NotABundle where there is no directory or no manifest.json in it."""
    if not directory.is_dir():
        raise NotABundle(f"{directory} is not a directory" if directory.exists() else f"no such directory: {directory}")
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise NotABundle(f"no {MANIFEST} in {directory}: not an evidence bundle")
    raw = manifest_path.read_bytes()
    problems: list[str] = []
    try:
        manifest = orjson.loads(raw)
    except orjson.JSONDecodeError:
        manifest = None
    entries = _listed(manifest)
    if entries is None:
        problems.append(f"{MANIFEST} is not a bundle manifest (format {FORMAT})")
        manifest, entries = {}, []
    named_key = manifest.get("public_key")
    signer = public_key or named_key
    signature_path = directory / SIGNATURE
    signature_text = signature_path.read_text(errors="replace") if signature_path.is_file() else None
    valid = bool(signer) and signature_text is not None and signature_holds(raw, signature_text, str(signer))
    if signature_text is not None and not valid:
        problems.append(f"the signature does not verify against {signer or 'any key'}")
    if public_key is not None and named_key is not None and named_key != public_key:
        problems.append(f"the manifest names the signer {named_key}, not the required {public_key}")

    present = {p.name: p for p in directory.iterdir()}
    changed, missing = [], []
    for entry in entries:
        path = present.get(entry["name"])
        if path is None or not path.is_file():
            missing.append(entry["name"])
        elif sha256_file(path) != entry["sha256"]:
            changed.append(entry["name"])
    if signature_text is None:
        missing.append(SIGNATURE)
    listed = {e["name"] for e in entries}
    unexpected = sorted(name for name in present if name not in listed and name not in BUNDLE_FILES)
    return {
        "ok": not (problems or changed or missing or unexpected),
        "bundle": str(directory),
        "case_id": manifest.get("case_id"),
        "generated_at": manifest.get("generated_at"),
        "files": [e["name"] for e in entries],
        "changed": changed,
        "missing": missing,
        "unexpected": unexpected,
        "signature": "valid" if valid else "invalid",
        "public_key": named_key,
        "required_public_key": public_key,
        "problems": problems,  # what is wrong beyond the files named above
    }
