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


class NotItsOwnDirectory(ValueError):
    """The export directory holds files that are not this case's bundle."""


def evidence_paths(directory: Path, case_id: str) -> tuple[Path, Path]:
    directory = directory.resolve()
    return directory / f"replay-{case_id}.json", directory / f"fhir-bundle-{case_id}.json"


def write_evidence(directory: Path, result: dict[str, Any], events: Sequence[DomainEvent], *,
                   signing_seed: bytes, generated_at: datetime | None = None) -> dict[str, Any]:
    """Write both files, then manifest.json and manifest.sig signed with the deployment's
    Ed25519 key (`signing_seed`, its 32-byte seed); return the result with `exported` (the
    two evidence files) and `signed` (the bundle's directory, its manifest and signature, the public key), exactly
    as the replay file holds it.

    `events` are the ones the replay chose (as of its time); `result` is the replay JSON.
    The directory must hold nothing but this case's bundle (a re-export replaces it):
    anything else would be unexpected when the bundle is checked. Raises NotItsOwnDirectory
    before writing anything otherwise."""
    replay_path, fhir_path = evidence_paths(directory, result["case_id"])
    directory = replay_path.parent
    foreign = signing.foreign_files(directory, [replay_path.name, fhir_path.name])
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise NotItsOwnDirectory(f"{directory} already holds {shown}; an evidence bundle needs a directory of its own")
    moment = generated_at or datetime.now(UTC)
    bundle = fhir_bundle(events, generated_at=moment,
                         audit={k: result[k] for k in ("disclosures", "consent_changes")})
    result = {**result, "exported": [str(replay_path), str(fhir_path)],
              "signed": {"bundle": str(directory), "manifest": str(directory / signing.MANIFEST),
                         "signature": str(directory / signing.SIGNATURE),
                         "public_key": signing.public_key_hex(signing_seed)}}
    directory.mkdir(parents=True, exist_ok=True)
    replay_path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    fhir_path.write_text(bundle_json(bundle) + "\n")
    signing.sign_bundle(directory, [replay_path, fhir_path], signing_seed, case_id=result["case_id"],
                        generated_at=moment)
    return result
