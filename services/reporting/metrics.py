"""Reporting's series on its worker's /metrics: open cases by status, from the views.

Labels hold a case status and nothing else (never an id or free text)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

#: Case statuses after which a case is no longer open (see the case_state fold).
FINISHED_STATUSES = frozenset({"declined", "closed", "cancelled"})
#: Open statuses shown as 0 before any case reaches them, so dashboards have every series.
OPEN_STATUSES = ("opened", "awaiting_consent", "collecting_records", "suspended", "in_review",
                 "report_issued")


class CaseGauges:
    def __init__(self, registry: CollectorRegistry):
        self.open_cases = Gauge("cases_open_cases", "Open cases by status, from reporting's views",
                                ["status"], registry=registry)
        self.breached_open = Gauge("cases_sla_breached_open_cases",
                                   "Open cases whose review breached its SLA", registry=registry)
        for status in OPEN_STATUSES:
            self.open_cases.labels(status)
        self._statuses: set[str] = set()

    def update(self, by_status: Mapping[str, int], states: Iterable[Mapping[str, Any]]) -> None:
        """Counts from `CaseViews.count_by_status()` and `all_states()`. A status no case
        holds any more goes back to 0."""
        breached_open = sum(1 for s in states
                            if s.get("sla_breached") and s.get("status") not in FINISHED_STATUSES)
        counts = {s: n for s, n in by_status.items() if s not in FINISHED_STATUSES}
        for status in self._statuses | set(OPEN_STATUSES) | set(counts):
            self.open_cases.labels(status).set(counts.get(status, 0))
        self._statuses |= set(counts)
        self.breached_open.set(breached_open)
