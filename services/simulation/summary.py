"""The demo's summary: cases by status, model and outcome, turnaround, SLA breaches."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any
from uuid import UUID

from services.bootstrap import Deployment
from services.reporting.replay import case_events, replay


def summarise(rt: Deployment, sim: Any, *, seed: int, cases: int) -> dict[str, Any]:
    states = rt.reporting.views.all_states()
    by_status = Counter(s["status"] for s in states)
    by_model_outcome = Counter(
        (s["model"] or "-", (s["opinion"] or {}).get("outcome", "-")) for s in states
    )
    declined = Counter(r for s in states if s["status"] == "declined" for r in s["eligibility"]["reasons"])
    days = [s["opinion"]["working_days_used"] for s in states if s["opinion"]]
    example = pick_example(states)
    return {
        "home": str(rt.home.resolve()),
        "seed": seed,
        "cases": len(states),
        "requested": cases,
        "by_status": dict(sorted(by_status.items())),
        "by_model_outcome": [
            {"model": m, "outcome": o, "cases": n} for (m, o), n in sorted(by_model_outcome.items())
        ],
        "declined_by_reason": dict(declined.most_common()),
        "median_working_days_to_opinion": statistics.median(days) if days else None,
        "opinions": len(days),
        "sla_breaches": sum(1 for s in states if s["sla_breached"]),
        "unhappy_paths": dict(Counter(p for p in sim.plans.values() if p != "happy").most_common()),
        "refusals": sim.refusals,
        "replay": {"case_id": example, **replay(case_events(rt.services, UUID(example)))} if example else None,
    }


def pick_example(states: list[dict[str, Any]]) -> str | None:
    """A third-party case whose report went to the GP: it shows every service at work."""
    for s in states:
        if s["model"] == "third_party" and "gp" in s["report_recipients"]:
            return str(s["case_id"])
    return states[0]["case_id"] if states else None
