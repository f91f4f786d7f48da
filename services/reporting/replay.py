"""The auditor's replay: every event of a case across the four stores, in causal order,
with the state folded from them (as of a moment, where given), optionally the state after
each event, and the findings: every disclosure with its consent, consent changes, the SLA."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from events.codec import decode_stored, to_payload
from events.envelope import DomainEvent
from events.registry import PERSONAL_DATA_TYPES
from services.reporting.audit import audit_findings, steps
from services.reporting.projections.case_state import causal_order, fold_forward
from services.runtime.application import ServiceApplication
from services.runtime.attached import stream_rows
from services.runtime.keystore import is_sealed

ENVELOPE = ("type", "schema_version", "originator_id", "originator_version", "event_id",
            "occurred_at", "actor", "causation_id", "correlation_id", "case_id")


def case_events(services: Mapping[str, ServiceApplication], case_id: UUID) -> list[DomainEvent]:
    """Read straight from each service's own store: replay does not trust a projection.
    SQLite stores are read in one statement (services/runtime/attached.py)."""
    rows = stream_rows(services, case_id)
    if rows is not None:
        stream = str(case_id)
        found = [decode_stored(stream, version, state) for _, version, state in rows]
    else:
        found = [app.decode(stored) for app in services.values()
                 for stored in app.recorder.select_events(case_id)]
    return sorted(found, key=causal_order)


def replay(events: Iterable[DomainEvent], as_of: datetime | None = None, *,
           with_steps: bool = False) -> dict[str, Any]:
    """{"events": [...], "state": {...}} plus the findings (audit_findings); with_steps,
    each event also carries `state_after` and `changed`."""
    chosen = events_as_of(events, as_of)
    described = [describe(e) for e in chosen]
    if with_steps:
        for entry, step in zip(described, steps(chosen), strict=True):
            entry["state_after"] = public_state(step["state_after"])
            entry["changed"] = step["changed"]
    return {
        "events": described,
        "state": public_state(fold_forward({}, chosen)) if chosen else None,  # chosen: in causal order
        **audit_findings(chosen),
    }


def events_as_of(events: Iterable[DomainEvent], as_of: datetime | None = None) -> list[DomainEvent]:
    """The events recorded up to the moment (all of them without one), in causal order."""
    return sorted((e for e in events if as_of is None or e.occurred_at <= as_of), key=causal_order)


def describe(event: DomainEvent) -> dict[str, Any]:
    payload = to_payload(event)
    data = {k: v for k, v in payload.items() if k not in ENVELOPE}
    if event.type_name in PERSONAL_DATA_TYPES:
        data = redact(data)
    return {
        "type": event.type_name,
        "service": event.service,
        "at": event.occurred_at.isoformat(),
        "actor": event.actor,
        "event_id": str(event.event_id),
        "version": event.originator_version,
        "schema_version": event.schema_version,
        "causation_id": str(event.causation_id) if event.causation_id else None,
        "correlation_id": str(event.correlation_id) if event.correlation_id else None,
        "data": data,
    }


def redact(data: dict[str, Any]) -> dict[str, Any]:
    """Direct identifiers are never shown by value here: sealed ones stay sealed (the reader's
    edge shows them as "[sealed]", "[erased]" or, with --reveal, recorded, the plaintext);
    anything unsealed is "[redacted]"."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out[key] = {k: (v if v is None or is_sealed(v) else "[redacted]") for k, v in value.items()}
        else:
            out[key] = value
    return out


def public_state(state: dict[str, Any]) -> dict[str, Any]:
    """The case state as `cases show` prints it."""
    return dict(state)
