"""The evidence bundle an auditor keeps: the replay JSON and its FHIR R5 Bundle, side by side."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from events.envelope import DomainEvent
from services.reporting.audit.fhir_export import bundle_json, fhir_bundle


def evidence_paths(directory: Path, case_id: str) -> tuple[Path, Path]:
    directory = directory.resolve()
    return directory / f"replay-{case_id}.json", directory / f"fhir-bundle-{case_id}.json"


def write_evidence(directory: Path, result: dict[str, Any], events: Sequence[DomainEvent],
                   generated_at: datetime | None = None) -> dict[str, Any]:
    """Write both files; return the result with `exported` (the paths), exactly as written.

    `events` are the ones the replay chose (as of its time); `result` is the replay JSON."""
    replay_path, fhir_path = evidence_paths(directory, result["case_id"])
    bundle = fhir_bundle(events, generated_at=generated_at or datetime.now(UTC),
                         audit={k: result[k] for k in ("disclosures", "consent_changes")})
    result = {**result, "exported": [str(replay_path), str(fhir_path)]}
    directory.mkdir(parents=True, exist_ok=True)
    replay_path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    fhir_path.write_text(bundle_json(bundle) + "\n")
    return result
