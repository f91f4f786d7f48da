"""Consent history: every grant and withdrawal, per case and member, with time and actor."""

from __future__ import annotations

from events.envelope import DomainEvent
from events.records import ConsentGranted, ConsentWithdrawn


def consent_row(event: DomainEvent, member_ref: str | None) -> tuple[str, ...] | None:
    if isinstance(event, ConsentGranted):
        action = "granted"
    elif isinstance(event, ConsentWithdrawn):
        action = "withdrawn"
    else:
        return None
    return (str(event.event_id), str(event.case_id), member_ref or "", event.scope, action,
            event.occurred_at.isoformat(), event.actor, event.channel)
