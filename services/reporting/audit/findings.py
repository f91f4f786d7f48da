"""Every disclosure paired with the consent that allowed it, the consent changes, the SLA.

A pure function of a case's events: no store, no clock. A disclosure is valid when the
consent event it names is a grant of the scope that disclosure needs, in this case's log,
recorded before the disclosure (in causal order) and not withdrawn before it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from events.envelope import DomainEvent
from events.intake import IdentityRevealed, MemberErased
from events.review import NetworkReferralSent
from services.reporting.projections.case_state import causal_order

#: Which consent scope each kind of disclosure needs.
SCOPE_FOR = {
    "records_access": "records_access",
    "partner_disclosure": "third_party_disclosure",
    "report_share": "share_with_gp",
}
#: Event type -> kind of disclosure (report_delivered is per delivery, see below).
KIND_OF = {
    "records_requested": "records_access",
    "record_received": "records_access",
    "review_pack_prepared": "partner_disclosure",
    "network_referral_sent": "partner_disclosure",
}
#: The case team that collects records: the recipient of a records access.
INSURER = "insurer"
EXTERNAL_REVIEWER = "external_reviewer"


def audit_findings(events: Iterable[DomainEvent]) -> dict[str, Any]:
    """{"disclosures": [...], "consent_changes": [...], "sla": {...}, "reads": [...],
    "reidentifications": [...], "findings": [...]}. `reads`: every read of the member's
    plaintext (who, when, which fields, why) and the erasure, if any. `reidentifications`:
    every partner answer that linked a pseudonymised pack back to this case."""
    ordered = sorted(events, key=causal_order)
    position = {e.event_id: i for i, e in enumerate(ordered)}
    consent = _ConsentLog(ordered, position)
    partners = {e.pack_id: e.partner for e in ordered if isinstance(e, NetworkReferralSent)}

    disclosures: list[dict[str, Any]] = []
    for event in ordered:
        for entry in _disclosures_in(event, partners):
            disclosures.append(consent.judge(event, entry))

    sla = sla_summary(ordered)
    findings = [_finding(d) for d in disclosures if not d["valid"]]
    if sla["breached"]:
        findings.append({
            "severity": "medium", "kind": "sla_breached", "due_on": sla["due_on"],
            "working_days_used": sla["working_days_used"], "sla_working_days": sla["sla_working_days"],
            "detail": f"review due {sla['due_on']} was not met"
                      + (f" ({sla['working_days_used']} working days used)"
                         if sla["working_days_used"] is not None else ""),
        })
    reads = [{"at": e.occurred_at.isoformat(), "reader": e.actor, "kind": e.type_name,
              **({"fields": list(e.fields), "purpose": e.purpose} if isinstance(e, IdentityRevealed)
                 else {"reason": getattr(e, "reason", None)})}
             for e in ordered if isinstance(e, IdentityRevealed | MemberErased)]
    findings += recall_findings(ordered)
    reidentifications = [_reidentification(e) for e in ordered if e.type_name == "partner_opinion_received"]
    return {"disclosures": disclosures, "consent_changes": consent.changes(),
            "sla": sla, "reads": reads, "reidentifications": reidentifications, "findings": findings}


def _reidentification(e: Any) -> dict[str, Any]:
    return {"at": e.occurred_at.isoformat(), "event_id": str(e.event_id), "partner": e.partner,
            "pack_id": str(e.pack_id), "message_id": str(e.message_id)}


def recall_findings(ordered: list[Any]) -> list[dict[str, Any]]:
    """A pack recalled from a partner and not acknowledged by its deadline (the review clock
    records `recall_overdue`): the partner may still hold the member's pack."""
    acknowledged = {(e.partner, e.pack_id): e for e in ordered if e.type_name == "recall_acknowledged"}
    found = []
    for e in ordered:
        if e.type_name != "recall_overdue":
            continue
        late = acknowledged.get((e.partner, e.pack_id))
        found.append({
            "severity": "high" if late is None else "medium", "kind": "recall_unacknowledged",
            "event_id": str(e.event_id), "at": e.occurred_at.isoformat(), "recipient": e.partner,
            "pack_id": str(e.pack_id), "acknowledge_by": e.acknowledge_by.isoformat(),
            "acknowledged_at": late.occurred_at.isoformat() if late is not None else None,
            "detail": f"the recall of a pack from {e.partner} was not acknowledged by "
                      f"{e.acknowledge_by.isoformat()}"
                      + (f" (acknowledged late, {late.occurred_at.isoformat()})" if late is not None else ""),
        })
    return found


def _disclosures_in(event: Any, partners: dict[UUID, str]) -> list[dict[str, Any]]:
    base = {"event_id": str(event.event_id), "type": event.type_name, "at": event.occurred_at.isoformat()}
    kind = KIND_OF.get(event.type_name)
    if kind == "records_access":
        return [{**base, "kind": kind, "recipient": INSURER, "source": event.source,
                 "consent_event_id": _str(event.consent_event_id)}]
    if event.type_name == "review_pack_prepared":
        recipient = partners.get(event.pack_id, EXTERNAL_REVIEWER)
        return [{**base, "kind": kind, "recipient": recipient, "pack_id": str(event.pack_id),
                 "consent_event_id": _str(event.consent_event_id)}]
    if event.type_name == "network_referral_sent":
        return [{**base, "kind": kind, "recipient": event.partner, "pack_id": str(event.pack_id),
                 "consent_event_id": _str(event.consent_event_id)}]
    if event.type_name == "report_delivered":
        return [{**base, "kind": "report_share", "recipient": d.recipient,
                 "consent_event_id": _str(d.consent_event_id)}
                for d in event.deliveries]
    return []


class _ConsentLog:
    """The grants and withdrawals of the case, placed in causal order."""

    def __init__(self, ordered: list[DomainEvent], position: dict[UUID, int]):
        self.position = position
        self.grants: dict[UUID, Any] = {e.event_id: e for e in ordered if e.type_name == "consent_granted"}
        self.withdrawals: list[Any] = [e for e in ordered if e.type_name == "consent_withdrawn"]

    def withdrawal_of(self, grant: Any) -> Any | None:
        """The first withdrawal that ended this grant: it names the grant, or withdraws
        the same scope after it (a later grant of the scope is a new consent)."""
        start = self.position[grant.event_id]
        for w in self.withdrawals:
            if w.case_id != grant.case_id:
                continue
            if w.grant_event_id == grant.event_id or (
                    w.scope == grant.scope and self.position[w.event_id] > start
                    and not self._regranted_between(grant, w)):
                return w
        return None

    def _regranted_between(self, grant: Any, withdrawal: Any) -> bool:
        lo, hi = self.position[grant.event_id], self.position[withdrawal.event_id]
        return any(g.scope == grant.scope and g.case_id == grant.case_id
                   and lo < self.position[g.event_id] < hi for g in self.grants.values())

    def judge(self, event: DomainEvent, entry: dict[str, Any]) -> dict[str, Any]:
        needed = SCOPE_FOR[entry["kind"]]
        if entry["kind"] == "report_share" and entry["recipient"] == "member":
            return {**entry, "consent_scope": None, "valid": True, "problem": None,
                    "note": "the member's own copy needs no consent"}
        entry = {**entry, "consent_scope": needed}
        problem = self._problem(event, entry["consent_event_id"], needed)
        return {**entry, "valid": problem is None, "problem": problem}

    def _problem(self, event: Any, consent_event_id: str | None, needed: str) -> str | None:
        if consent_event_id is None:
            return "no_consent_named"
        grant = self.grants.get(UUID(consent_event_id))
        if grant is None or grant.case_id != getattr(event, "case_id", None):
            return "consent_not_in_case_log"
        if grant.scope != needed:
            return "wrong_scope"
        here = self.position[event.event_id]
        if self.position[grant.event_id] >= here:
            return "consent_after_disclosure"
        withdrawal = self.withdrawal_of(grant)
        if withdrawal is not None and self.position[withdrawal.event_id] < here:
            return "consent_withdrawn_before_disclosure"
        return None

    def changes(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        ordered = sorted([*self.grants.values(), *self.withdrawals], key=lambda e: self.position[e.event_id])
        for e in ordered:
            row = {"event_id": str(e.event_id), "at": e.occurred_at.isoformat(), "actor": e.actor,
                   "scope": e.scope, "channel": e.channel}
            if e.type_name == "consent_granted":
                ended = self.withdrawal_of(e)
                row |= {"action": "granted", "withdrawn_by": _str(ended.event_id) if ended else None,
                        "withdrawn_at": ended.occurred_at.isoformat() if ended else None}
            else:
                row |= {"action": "withdrawn", "grant_event_id": str(e.grant_event_id)}
            rows.append(row)
        return rows


def _finding(d: dict[str, Any]) -> dict[str, Any]:
    what = {"records_access": "records access", "partner_disclosure": "disclosure to a partner",
            "report_share": "report share"}[d["kind"]]
    return {
        "severity": "high", "kind": "disclosure_without_consent",
        "event_id": d["event_id"], "type": d["type"], "at": d["at"],
        "disclosure_kind": d["kind"], "recipient": d["recipient"],
        "consent_event_id": d["consent_event_id"], "consent_scope": d["consent_scope"],
        "problem": d["problem"],
        "detail": f"{what} to {d['recipient']} ({d['type']}) without a valid "
                  f"{d['consent_scope']} consent: {d['problem'].replace('_', ' ')}",
    }


def sla_summary(ordered: list[Any]) -> dict[str, Any]:
    """The review's SLA: from the first start, due on the latest due date (a resumed review
    moves it), met or not as the opinion says, breached if flagged or the opinion was late."""
    started = [e for e in ordered if e.type_name == "review_started"]
    dues = [e for e in ordered if e.type_name in ("review_started", "review_resumed")]
    opinions = [e for e in ordered if e.type_name == "opinion_submitted"]
    flagged = [e for e in ordered if e.type_name == "review_sla_breached"]
    opinion = opinions[-1] if opinions else None
    first = started[0] if started else None
    met = opinion.sla_met if opinion else None
    return {
        "started_on": first.started_on.isoformat() if first else None,
        "due_on": dues[-1].due_on.isoformat() if dues else None,
        "sla_working_days": first.sla_working_days if first else None,
        "nation": first.nation if first else None,
        "submitted_on": opinion.submitted_on.isoformat() if opinion else None,
        "working_days_used": opinion.working_days_used if opinion else None,
        "met": met,
        "breached": bool(flagged) or met is False,
        "breach_detected_on": flagged[0].detected_on.isoformat() if flagged else None,
    }


def _str(value: UUID | None) -> str | None:
    return str(value) if value is not None else None
