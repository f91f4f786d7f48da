"""Upcasters: turn an older payload version into the current one before validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Payload = dict[str, Any]

#: (type name, from version) -> function returning the payload at version + 1.
UPCASTERS: dict[tuple[str, int], Callable[[Payload], Payload]] = {}


def upcast(type_name: str, version: int, payload: Payload, current: int) -> Payload:
    while version < current:
        step = UPCASTERS.get((type_name, version))
        if step is None:
            raise ValueError(f"no upcaster for {type_name} v{version} -> v{version + 1}")
        payload = step(payload)
        version += 1
    return payload
