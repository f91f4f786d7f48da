"""What the page shows, computed from the actions' results: the SLA clock in working days,
the timeline's rows, and which forms a case offers at its status (the role's rights are the
other half, checked in the templates with `can(...)` and again by the actions)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from services.common.context import LONDON

STATUSES = ("declined", "awaiting_consent", "collecting_records", "in_review", "report_issued",
            "closed", "cancelled", "suspended")
MODELS = ("in_house", "third_party", "further_consultation")
SCOPE_LABELS = {"records_access": "Records access (collect medical records)",
                "third_party_disclosure": "Third-party disclosure (send the pseudonymised pack outside)",
                "share_with_gp": "Share with GP (send the report to the GP)"}
#: Statuses after which nothing about the case changes but closing or erasure.
FINISHED = frozenset({"declined", "cancelled", "closed"})
#: A timeline row's detail: only these plain, non-identifying fields of an event's data.
DETAIL_KEYS = ("scope", "kind", "source", "outcome", "route", "reviewer", "partner", "recipient", "reason")


def sla_clock(review_due: str | None, nation: str | None, today: date,
              breached: bool, finished: bool) -> dict[str, Any] | None:
    """The review's due date and the working days left (or overdue), for the member's nation."""
    from services.review.domain.sla import NATIONS, working_days_between

    if not review_due:
        return None
    due = date.fromisoformat(review_due)
    nation = nation if nation in NATIONS else "ENG"
    clock: dict[str, Any] = {"due": due, "breached": breached, "left": None, "overdue": None}
    if finished:
        return clock
    if today <= due:
        clock["left"] = working_days_between(today, due, nation)
    else:
        clock["overdue"] = working_days_between(due, today, nation)
    return clock


def when(iso: str | None) -> str:
    """A moment as a person in London reads it: 30 Nov 2026, 13:29."""
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(LONDON)
    return moment.strftime("%-d %b %Y, %H:%M")


def day(iso: str | date | None) -> str:
    if not iso:
        return ""
    value = iso if isinstance(iso, date) else date.fromisoformat(str(iso)[:10])
    return value.strftime("%-d %b %Y")


#: Words a person reads for the replay's finding kinds (others: the code, spaced and capitalised).
FINDING_LABELS = {"sla_breached": "SLA breached", "recall_unacknowledged": "Recall not acknowledged",
                  "disclosure_without_consent": "Disclosure without a valid consent"}


def label(code: str | None) -> str:
    return FINDING_LABELS.get(code or "") or (code or "").replace("_", " ").capitalize()


def timeline(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for e in events:
        data = e.get("data") or {}
        detail = ", ".join(f"{key.replace('_', ' ')}: {data[key]}" for key in DETAIL_KEYS
                           if isinstance(data.get(key), str) and data[key] not in ("[sealed]", "[erased]"))
        rows.append({"type": label(e.get("type")), "service": e.get("service", ""), "at": when(e.get("at")),
                     "actor": e.get("actor", ""), "detail": detail})
    return rows


def offers(state: dict[str, Any]) -> dict[str, bool]:
    """The forms that make sense at the case's status (the service still decides)."""
    status = state.get("status")
    running = status not in FINISHED and status != "report_issued"
    collecting = status in ("awaiting_consent", "collecting_records")
    return {
        "consent": running,
        "add_record": collecting,
        "complete_records": status == "collecting_records" and not state.get("records_complete"),
        "opinion": status == "in_review" and not state.get("opinion"),
        "deliver": status == "in_review" and bool(state.get("opinion")),
        "cancel": running,
        "close": status == "report_issued",
    }


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
