"""The evidence bundle an auditor keeps: the replay JSON and its FHIR R5 Bundle, side by side,
with a manifest of their SHA-256 digests signed by the deployment (see `signing`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from events.envelope import DomainEvent
from services.reporting.audit import signing
from services.reporting.audit.fhir_export import bundle_json, fhir_bundle


def evidence_paths(directory: Path, case_id: str) -> tuple[Path, Path]:
    directory = directory.resolve()
    return directory / f"replay-{case_id}.json", directory / f"fhir-bundle-{case_id}.json"


def write_evidence(directory: Path, result: dict[str, Any], events: Sequence[DomainEvent], *,
                   signing_seed: bytes, generated_at: datetime | None = None) -> dict[str, Any]:
    """Write both files, then manifest-CASE.json and manifest-CASE.sig signed with the
    deployment's Ed25519 key (`signing_seed`, its 32-byte seed); return the result with
    `exported` (the two evidence files) and `signed` (the directory, this case's manifest and
    signature, the public key), exactly as the replay file holds it.

    `events` are the ones the replay chose (as of its time); `result` is the replay JSON.
    The directory may hold other cases' bundles and other files: they are left alone. A
    re-export of the case replaces its files and its manifest."""
    case_id = result["case_id"]
    replay_path, fhir_path = evidence_paths(directory, case_id)
    directory = replay_path.parent
    moment = generated_at or datetime.now(UTC)
    bundle = fhir_bundle(events, generated_at=moment,
                         audit={k: result[k] for k in ("disclosures", "consent_changes")})
    result = {**result, "exported": [str(replay_path), str(fhir_path)],
              "signed": {"bundle": str(directory), "manifest": str(directory / signing.manifest_name(case_id)),
                         "signature": str(directory / signing.signature_name(case_id)),
                         "public_key": signing.public_key_hex(signing_seed)}}
    directory.mkdir(parents=True, exist_ok=True)
    replay_path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    fhir_path.write_text(bundle_json(bundle) + "\n")
    signing.sign_bundle(directory, [replay_path, fhir_path], signing_seed, case_id=case_id,
                        generated_at=moment)
    return result
