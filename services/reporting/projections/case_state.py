"""Current case state, folded from a case's events across the four services.

A pure function of the events: the live view, `cases show`, `cases replay` and
`--as-of` all use this one fold, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date
from typing import Any

from events.envelope import CaseEvent, DomainEvent

State = dict[str, Any]
SERVICE_ORDER = {"intake": 0, "records": 1, "review": 2, "reporting": 3}
#: An event's place in time across services: (POSIX seconds, service rank, stream version).
CausalOrder = tuple[float, int, int]


def causal_order(event: DomainEvent) -> CausalOrder:
    """Time order across services; ties go upstream first (intake before records ...).

    The moment as POSIX seconds: comparing two aware datetimes asks each for its UTC
    offset every time, a float is compared as it is (the rebuild's merge compares each
    event's key many times). Exact for ordering: until 2106 adjacent doubles near a POSIX
    time are under half a microsecond apart, so moments a microsecond apart stay apart."""
    at = event.occurred_at
    if at.tzinfo is None:  # the envelope asks for an aware moment; a naive one is taken as UTC
        at = at.replace(tzinfo=UTC)
    return (at.timestamp(), SERVICE_ORDER[event.service], event.originator_version)


def fold(events: Iterable[DomainEvent]) -> State:
    return fold_forward({}, sorted(events, key=causal_order))


def fold_forward(state: State, events: Iterable[DomainEvent]) -> State:
    """`state` with `events` folded in (in causal order, each after what the state holds):
    what `apply` gives event by event, with the state copied once and `updated_at`
    formatted once, from the last event (isoformat of a moment with its zone was a third of
    a fold; `state` itself is not changed)."""
    last = None
    for event in events:
        if not isinstance(event, CaseEvent):
            continue
        if last is None:
            state = dict(state) if state else empty_state(event)
        handler = HANDLERS.get(event.type_name)
        if handler is not None:
            handler(state, event)
        state["events"] += 1
        last = event
    if last is not None:
        state["updated_at"] = last.occurred_at.isoformat()
    return state


def empty_state(event: CaseEvent) -> State:
    return {
        "case_id": str(event.case_id),
        "status": "opened",
        "model": None,
        "policy_number": None,
        "insurer": None,
        "product": None,
        "requested_on": None,
        "specialty": None,
        "condition": None,
        "nation": None,
        "age_band": None,
        "member_ref": None,
        "eligibility": None,
        "consents": [],
        "consent_events": {},
        "records": [],
        "records_requested": [],
        "records_unobtainable": [],
        "records_complete": False,
        "review": None,
        "review_due": None,
        "sla_breached": False,
        "waiting_for_reviewer": False,
        "opinion": None,
        "report": None,
        "report_recipients": [],
        "suspended_reason": None,
        "cancelled_reason": None,
        "has_gp": False,
        "opened_at": None,
        "updated_at": None,
        "events": 0,
    }


def apply(state: State, event: DomainEvent) -> State:
    """One event folded in (a new state; `state` is not changed): the replay's steps."""
    return fold_forward(state, (event,))


Handler = Callable[[State, Any], None]
HANDLERS: dict[str, Handler] = {}

#: Events that stay in the trail but change no field of the case state: the policy register,
#: the member's identity (the state holds the member reference only), the case's internal
#: bookkeeping in records and review, and the directory.
IGNORED = frozenset({
    "policy_terms_recorded", "member_identified", "case_concluded", "case_file_opened",
    "consent_requested", "case_file_closed", "case_ready_for_review", "review_pack_prepared",
    "review_pack_recalled", "reviewer_registered",
    "review_consent_withdrawn",  # the review's own review_suspended follows and says it
    "identity_revealed",  # a read, listed in the replay's findings, not a change of the case
    "dead_letter_retried", "dead_letter_resolved",  # operators handling messages, not cases
    # Review's partner registry and a partner's messages that named no case: not case events.
    "partner_registered", "partner_removed", "partner_message_rejected",
    "review_pack_kept",  # review's copy of records' pack, kept to send it to the partner
})


def on(type_name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[type_name] = handler
        return handler

    return register


@on("case_opened")
def _opened(s: State, e: Any) -> None:
    s.update(
        policy_number=e.policy_number, requested_on=e.requested_on.isoformat(),
        specialty=e.condition.specialty, condition=e.condition.name, nation=e.member.nation,
        age_band=e.member.age_band, member_ref=str(e.member_ref), has_gp=e.has_gp,
        opened_at=e.occurred_at.isoformat(),
    )


@on("eligibility_confirmed")
def _confirmed(s: State, e: Any) -> None:
    s.update(status="awaiting_consent", model=e.model, insurer=e.insurer, product=e.product)
    s["eligibility"] = {"decision": "accepted", "reasons": [], "rule_version": e.rule_version,
                        "sla_working_days": e.sla_working_days}


@on("eligibility_declined")
def _declined(s: State, e: Any) -> None:
    s.update(status="declined", model=None, insurer=e.insurer, product=e.product)
    s["eligibility"] = {"decision": "declined", "reasons": list(e.reasons), "rule_version": e.rule_version}


@on("consent_granted")
def _granted(s: State, e: Any) -> None:
    s["consent_events"] = {**s["consent_events"], e.scope: str(e.event_id)}
    s["consents"] = sorted(s["consent_events"])
    if e.scope == "records_access" and s["status"] == "awaiting_consent":
        s["status"] = "collecting_records"


@on("consent_withdrawn")
def _withdrawn(s: State, e: Any) -> None:
    s["consent_events"] = {k: v for k, v in s["consent_events"].items() if k != e.scope}
    s["consents"] = sorted(s["consent_events"])


@on("records_requested")
def _requested(s: State, e: Any) -> None:
    s["records_requested"] = [*s["records_requested"], {"kind": e.kind, "source": e.source}]


@on("record_received")
def _received(s: State, e: Any) -> None:
    s["records"] = [*s["records"], {"kind": e.kind, "source": e.source,
                                    "received_at": e.occurred_at.isoformat()}]
    s["records_requested"] = [r for r in s["records_requested"] if r["source"] != e.source]


@on("records_unobtainable")
def _unobtainable(s: State, e: Any) -> None:
    s["records_unobtainable"] = [*s["records_unobtainable"], {"source": e.source, "reason": e.reason}]
    s["records_requested"] = [r for r in s["records_requested"] if r["source"] != e.source]


@on("records_completed")
def _completed(s: State, e: Any) -> None:
    s["records_complete"] = True


@on("collection_suspended")
def _collection_suspended(s: State, e: Any) -> None:
    s.update(status="suspended", suspended_reason=e.reason)


@on("collection_resumed")
def _collection_resumed(s: State, e: Any) -> None:
    s.update(status="collecting_records", suspended_reason=None)


@on("review_started")
def _review_started(s: State, e: Any) -> None:
    s.update(status="in_review", review_due=e.due_on.isoformat(), suspended_reason=None)
    s["review"] = {"route": e.route, "started_on": e.started_on.isoformat(),
                   "sla_working_days": e.sla_working_days, "reviewer": None, "partner": None,
                   "appointment": None}


def _review(s: State, **changes: Any) -> None:
    s["review"] = {**(s["review"] or {}), **changes}


@on("reviewer_assigned")
def _assigned(s: State, e: Any) -> None:
    _review(s, reviewer=e.reviewer_name, reviewer_id=e.reviewer_id, waiting_for_reviewer=False)
    s["waiting_for_reviewer"] = False


@on("reviewer_declined")
def _reviewer_declined(s: State, e: Any) -> None:
    _review(s, reviewer=None, reviewer_id=None, appointment=None)


@on("conflict_of_interest_declared")
def _conflict(s: State, e: Any) -> None:
    _review(s, reviewer=None, reviewer_id=None, appointment=None)


@on("no_reviewer_available")
def _no_reviewer(s: State, e: Any) -> None:
    _review(s, reviewer=None, waiting_for_reviewer=True)
    s["waiting_for_reviewer"] = True


@on("network_referral_sent")
def _referred(s: State, e: Any) -> None:
    referral = {"partner": e.partner, "state": "sent", "sent_at": e.occurred_at.isoformat(),
                "respond_by": e.respond_by.isoformat() if e.respond_by else None}
    _review(s, partner=e.partner, pack_released=True, referral=referral)


def _referral(s: State, partner: str, **changes: Any) -> None:
    """Change the case's referral to `partner` (its latest), if it is the current one."""
    current = (s["review"] or {}).get("referral")
    if current is not None and current.get("partner") == partner:
        _review(s, referral={**current, **changes})


@on("network_referral_withdrawn")
def _referral_withdrawn(s: State, e: Any) -> None:
    _review(s, pack_released=False)
    _referral(s, e.partner, state="recalled", recall_reason=e.reason,
              acknowledge_by=e.acknowledge_by.isoformat() if e.acknowledge_by else None,
              recall_acknowledged=False if e.acknowledge_by else None)


@on("review_rerouted")
def _rerouted(s: State, e: Any) -> None:
    moves = [*(s["review"] or {}).get("reroutes", []),
             {"from": e.rerouted_from, "to": e.rerouted_to, "reason": e.reason,
              "at": e.occurred_at.isoformat()}]
    if e.rerouted_to == "in_house":
        _review(s, route="in_house_queue", partner=None, reroutes=moves)
    else:
        _review(s, reroutes=moves)


@on("partner_opinion_received")
def _partner_answered(s: State, e: Any) -> None:
    _referral(s, e.partner, state="answered", answered_at=e.occurred_at.isoformat())


@on("recall_acknowledged")
def _recall_acknowledged(s: State, e: Any) -> None:
    _referral(s, e.partner, recall_acknowledged=True)


@on("recall_overdue")
def _recall_overdue(s: State, e: Any) -> None:
    _referral(s, e.partner, recall_overdue=True)


@on("partner_opinion_rejected")
def _partner_rejected(s: State, e: Any) -> None:
    _review(s, partner_messages_rejected=(s["review"] or {}).get("partner_messages_rejected", 0) + 1)


@on("appointment_booked")
def _booked(s: State, e: Any) -> None:
    _review(s, appointment={"on": e.appointment_on.isoformat(), "with": e.specialist_name, "attended": False})


@on("appointment_attended")
def _attended(s: State, e: Any) -> None:
    _review(s, appointment={**(s["review"] or {}).get("appointment", {}), "attended": True})


@on("review_suspended")
def _review_suspended(s: State, e: Any) -> None:
    s.update(status="suspended", suspended_reason=e.reason)


@on("review_resumed")
def _review_resumed(s: State, e: Any) -> None:
    s.update(status="in_review", review_due=e.due_on.isoformat(), suspended_reason=None)


@on("review_stopped")
def _review_stopped(s: State, e: Any) -> None:
    _review(s, stopped=True)


@on("review_sla_breached")
def _breached(s: State, e: Any) -> None:
    s["sla_breached"] = True


@on("opinion_submitted")
def _opinion(s: State, e: Any) -> None:
    s["opinion"] = {"outcome": e.outcome, "summary": e.summary, "reviewer": e.reviewer,
                    "submitted_on": e.submitted_on.isoformat(),
                    "working_days_used": e.working_days_used, "sla_met": e.sla_met}
    if not e.sla_met:
        s["sla_breached"] = True


@on("report_prepared")
def _report_prepared(s: State, e: Any) -> None:
    s["report"] = {"report_id": str(e.report_id), "outcome": e.outcome, "delivered_at": None}


@on("report_delivered")
def _report_delivered(s: State, e: Any) -> None:
    s["status"] = "report_issued"
    s["report_recipients"] = [d.recipient for d in e.deliveries]
    s["report"] = {**(s["report"] or {}), "delivered_at": e.occurred_at.isoformat(),
                   "gp_withheld": e.gp_withheld}


@on("case_closed")
def _closed(s: State, e: Any) -> None:
    s["status"] = "closed"


@on("member_erased")
def _erased(s: State, e: Any) -> None:
    s["member_erased"] = True


@on("case_cancelled")
def _cancelled(s: State, e: Any) -> None:
    s.update(status="cancelled", cancelled_reason=e.reason)


def as_seen_on(state: State, today: date) -> State:
    """The state as a reader sees it on `today`: a review still running (in review, no
    opinion yet) past its due date is breached, whether or not the SLA clock has ticked
    to record it (reads never write; the next tick records the breach)."""
    due = state.get("review_due")
    running = state.get("status") == "in_review" and state.get("opinion") is None
    if running and due and not state.get("sla_breached") and today > date.fromisoformat(due):
        return {**state, "sla_breached": True}
    return state
