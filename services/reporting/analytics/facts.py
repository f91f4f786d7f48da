"""Reporting's analytics facts: fold state -> de-identified `AnalyticsCaseFact`, pure.

`analytics_fact` names every field it publishes (an allow-list): nothing reaches the fact
by copying the state and deleting what looks personal, so a field added to the fold later
stays out until someone adds it here on purpose. `FactBook` keeps each case's events and
says which cases' facts changed; it knows nothing of Kafka or faust.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from events.analytics import SCHEMA_VERSION, TYPE_NAME, AnalyticsCaseFact
from events.envelope import CaseEvent, DomainEvent
from events.registry import PERSONAL_DATA_TYPES
from services.common import pseudonyms
from services.reporting.projections.case_state import fold

#: Hex digits of the HMAC kept in `analytics_ref`: 128 bits, no collision in any real volume.
REF_HEX_DIGITS = 32
MIN_KEY_BYTES = 16


class CaseNotReady(ValueError):
    """The fold has not seen the case's opening and eligibility decision yet (events of a
    case arrive on four topics; intake's may come after another service's)."""


def analytics_ref(case_id: str | UUID, key: bytes) -> str:
    """Keyed pseudonym of a case (services/common/pseudonyms.py)."""
    return pseudonyms.analytics_ref(key, case_id)


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def analytics_fact(state: dict[str, Any], key: bytes) -> AnalyticsCaseFact:
    """The case's analytics fact, field by field from its fold state."""
    eligibility = state.get("eligibility")
    if not state.get("requested_on") or not eligibility:
        raise CaseNotReady(f"case {state.get('case_id')} is not opened and decided yet")
    opinion = state.get("opinion") or {}
    return AnalyticsCaseFact(
        type=TYPE_NAME,
        schema_version=SCHEMA_VERSION,
        analytics_ref=analytics_ref(state["case_id"], key),
        as_of=datetime.fromisoformat(state["updated_at"]),
        week=iso_week(date.fromisoformat(state["requested_on"])),
        insurer=state["insurer"],
        product=state["product"],
        model=state["model"],
        specialty=state["specialty"],
        nation=state["nation"],
        age_band=state["age_band"],
        status=state["status"],
        decision=eligibility["decision"],
        declined_reasons=tuple(eligibility.get("reasons") or ()),
        outcome=opinion.get("outcome"),
        working_days_to_opinion=opinion.get("working_days_used"),
        sla_met=opinion.get("sla_met"),
        sla_breached=bool(state["sla_breached"]),
    )


class FactBook:
    """Each case's events in memory; re-folds the cases a batch touched and hands back the
    facts that differ from the last ones handed back."""

    def __init__(self, key: bytes):
        analytics_ref("check", key)  # fail at start, not on the first message
        self.key = key
        self.events: dict[str, list[CaseEvent]] = {}
        self._seen: dict[str, set[UUID]] = {}
        self._latest: dict[str, AnalyticsCaseFact] = {}
        #: The cases the last `add` kept a new event of: what a durable copy must save.
        self.touched: list[str] = []

    def clear(self) -> None:
        self.events.clear()
        self._seen.clear()
        self._latest.clear()
        self.touched = []

    def restore(self, case: str, events: list[CaseEvent], fact: AnalyticsCaseFact | None) -> None:
        """Take back a case saved by `saved` (the analytics agent's table, after a restart)."""
        self.events[case] = list(events)
        self._seen[case] = {event.event_id for event in events}
        if fact is None:
            self._latest.pop(case, None)
        else:
            self._latest[case] = fact

    def saved(self, case: str) -> tuple[list[CaseEvent], AnalyticsCaseFact | None]:
        """What `restore` needs to take the case back: its events and its latest fact."""
        return self.events.get(case, []), self._latest.get(case)

    def latest(self) -> list[AnalyticsCaseFact]:
        """The latest fact of every case seen: what the weekly aggregates are kept from."""
        return list(self._latest.values())

    def add(self, events: Iterable[DomainEvent]) -> list[AnalyticsCaseFact]:
        touched: dict[str, None] = {}  # insertion-ordered set
        for event in events:
            # The identity event is never kept: the fold does not use it, and the analytics
            # process has no business holding a member's identifiers, even in memory.
            if not isinstance(event, CaseEvent) or event.type_name in PERSONAL_DATA_TYPES:
                continue
            case = str(event.case_id)
            seen = self._seen.setdefault(case, set())
            if event.event_id in seen:  # the outbox relays at least once
                continue
            seen.add(event.event_id)
            self.events.setdefault(case, []).append(event)
            touched[case] = None
        self.touched = list(touched)
        changed = []
        for case in touched:
            try:
                fact = analytics_fact(fold(self.events[case]), self.key)
            except CaseNotReady:
                continue  # published once intake's events for it arrive
            if self._latest.get(case) != fact:
                self._latest[case] = fact
                changed.append(fact)
        return changed
