"""The state after each event and what that event changed: the fold, one step at a time."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from events.envelope import DomainEvent
from services.reporting.projections.case_state import apply, causal_order

#: Keys every event moves; left out of `changed` so it names what the event itself did.
BOOKKEEPING = frozenset({"events", "updated_at"})


def steps(events: Iterable[DomainEvent]) -> list[dict[str, Any]]:
    """For each event in causal order: {"state_after": {...}, "changed": {key: {before, after}}}.

    The same `apply` the fold uses, so the last `state_after` is the replay's state."""
    out: list[dict[str, Any]] = []
    state: dict[str, Any] = {}
    for event in sorted(events, key=causal_order):
        after = apply(state, event)
        out.append({"state_after": copy.deepcopy(after), "changed": changed(state, after)})
        state = after
    return out


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Top-level keys whose value differs; a key the state did not yet have was None."""
    return {
        key: {"before": copy.deepcopy(before.get(key)), "after": copy.deepcopy(value)}
        for key, value in after.items()
        if key not in BOOKKEEPING and before.get(key) != value
    }
