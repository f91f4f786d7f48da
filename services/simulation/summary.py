"""The demo's summary: cases by status, model and outcome, turnaround, SLA breaches."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any
from uuid import UUID

from rich.console import Console
from rich.table import Table

from services.reporting.replay import case_events, replay
from services.runtime.embedded import Deployment


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
            return s["case_id"]
    return states[0]["case_id"] if states else None


def print_summary(r: dict[str, Any], out: Console) -> None:
    from services import presenters

    out.print(f"[bold]Demo batch[/bold]: {r['cases']} cases (seed {r['seed']})")
    table = Table(title="Cases by status")
    table.add_column("status")
    table.add_column("cases", justify="right")
    for status, n in r["by_status"].items():
        table.add_row(status, str(n))
    out.print(table)
    table = Table(title="Cases by delivery model and outcome")
    for col in ("model", "outcome", "cases"):
        table.add_column(col, justify="right" if col == "cases" else "left")
    for row in r["by_model_outcome"]:
        table.add_row(row["model"], row["outcome"], str(row["cases"]))
    out.print(table)
    table = Table(title="Declined at eligibility, by reason")
    table.add_column("reason")
    table.add_column("cases", justify="right")
    for reason, n in r["declined_by_reason"].items():
        table.add_row(reason, str(n))
    out.print(table)
    out.print(f"Opinions: {r['opinions']}; median working days from review start to opinion: "
              f"[bold]{r['median_working_days_to_opinion']}[/bold]")
    out.print(f"SLA breaches: [bold]{r['sla_breaches']}[/bold]")
    out.print(f"Unhappy paths run: {r['unhappy_paths']}")
    out.print(f"Commands refused by a business rule: {r['refusals'] or 'none'}")
    if r["replay"]:
        presenters.replay({**r["replay"], "as_of": None})
