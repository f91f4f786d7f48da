"""Weekly aggregates over the de-identified case facts (`cases analytics`).

Per ISO week of the request: cases opened, accepted, declined (and why), opinions given,
the median working days from review start to opinion, and the SLA breach rate among
reviews that started. Computed from facts only, so nothing here can carry an identifier.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from events.analytics import AnalyticsCaseFact, AnalyticsWeek


def latest_facts(facts: Iterable[AnalyticsCaseFact]) -> list[AnalyticsCaseFact]:
    """One fact per case: the one with the greatest `as_of` (a republished or catching-up
    fact never steps a case back)."""
    latest: dict[str, AnalyticsCaseFact] = {}
    for fact in facts:
        kept = latest.get(fact.analytics_ref)
        if kept is None or fact.as_of >= kept.as_of:
            latest[fact.analytics_ref] = fact
    return list(latest.values())


def weekly_aggregates(facts: Iterable[AnalyticsCaseFact]) -> list[dict[str, Any]]:
    by_week: dict[str, list[AnalyticsCaseFact]] = defaultdict(list)
    for fact in latest_facts(facts):
        by_week[fact.week].append(fact)
    return [summarise_week(week, by_week[week]) for week in sorted(by_week)]


def summarise_week(week: str, facts: list[AnalyticsCaseFact]) -> dict[str, Any]:
    accepted = [f for f in facts if f.decision == "accepted"]
    reviewed = [f for f in accepted if f.working_days_to_opinion is not None or f.sla_breached]
    days = [f.working_days_to_opinion for f in accepted if f.working_days_to_opinion is not None]
    declined = Counter(r for f in facts if f.decision == "declined" for r in f.declined_reasons)
    return {
        "week": week,
        "opened": len(facts),
        "accepted": len(accepted),
        "declined": len(facts) - len(accepted),
        "declined_by_reason": dict(declined.most_common()),
        "opinions": len(days),
        "median_working_days_to_opinion": statistics.median(days) if days else None,
        "sla_breach_rate": round(sum(f.sla_breached for f in reviewed) / len(reviewed), 3) if reviewed else None,
        "by_model": dict(Counter(f.model for f in accepted if f.model)),
    }


def week_messages(aggregates: list[dict[str, Any]]) -> list[AnalyticsWeek]:
    return [AnalyticsWeek(type="analytics_week", schema_version=1, **week) for week in aggregates]
