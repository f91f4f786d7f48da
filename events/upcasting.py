"""Upcasters: turn an older payload version into the current one before validation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

Payload = dict[str, Any]

def member_identified_v1_to_v2(payload: Payload) -> Payload:
    """v1 held the identity in plaintext, before per-member keys; v2 holds each field
    sealed. The shape is the same, so the values are carried over as they are: readers show
    an unsealed identity as "[redacted]", and erasure cannot reach it (re-seal such a log
    with a migration before relying on erasure)."""
    return dict(payload)


def _without_free_text(facts: Payload) -> Payload:
    """v1 free text was the request's own words (sealed, but naming the member, the GP, ...):
    a v2 reader takes the free text of a fact or pack to be de-identified, so none is read."""
    return {**facts, "diagnosis_summary": None, "proposed_treatment": None}


def case_file_opened_v1_to_v2(payload: Payload) -> Payload:
    return {**payload, "facts": _without_free_text(payload["facts"])}


def review_pack_prepared_v1_to_v2(payload: Payload) -> Payload:
    """Also each record's date relative to the diagnosis, from the two dates v1 held."""
    pack = _without_free_text(payload["pack"])
    diagnosed = date.fromisoformat(pack["diagnosed_on"])
    pack["records"] = [
        {**record, "days_after_diagnosis": (date.fromisoformat(record["received_on"]) - diagnosed).days}
        for record in pack.get("records", [])
    ]
    return {**payload, "pack": pack}


#: (type name, from version) -> function returning the payload at version + 1.
UPCASTERS: dict[tuple[str, int], Callable[[Payload], Payload]] = {
    ("member_identified", 1): member_identified_v1_to_v2,
    ("case_file_opened", 1): case_file_opened_v1_to_v2,
    ("review_pack_prepared", 1): review_pack_prepared_v1_to_v2,
}


def upcast(type_name: str, version: int, payload: Payload, current: int) -> Payload:
    while version < current:
        step = UPCASTERS.get((type_name, version))
        if step is None:
            raise ValueError(f"no upcaster for {type_name} v{version} -> v{version + 1}")
        payload = step(payload)
        version += 1
    return payload
