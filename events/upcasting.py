"""Upcasters: turn an older payload version into the current one before validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Payload = dict[str, Any]

def member_identified_v1_to_v2(payload: Payload) -> Payload:
    """v1 held the identity in plaintext, before per-member keys; v2 holds each field
    sealed. The shape is the same, so the values are carried over as they are: readers show
    an unsealed identity as "[redacted]", and erasure cannot reach it (re-seal such a log
    with a migration before relying on erasure)."""
    return dict(payload)


#: (type name, from version) -> function returning the payload at version + 1.
UPCASTERS: dict[tuple[str, int], Callable[[Payload], Payload]] = {
    ("member_identified", 1): member_identified_v1_to_v2,
}


def upcast(type_name: str, version: int, payload: Payload, current: int) -> Payload:
    while version < current:
        step = UPCASTERS.get((type_name, version))
        if step is None:
            raise ValueError(f"no upcaster for {type_name} v{version} -> v{version + 1}")
        payload = step(payload)
        version += 1
    return payload
