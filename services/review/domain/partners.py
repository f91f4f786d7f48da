"""Reviewer partners: their deadlines, and the ledger of their messages that named no case.

The partner's SLA (`respond_by`): two working days before the review is due, so the
insurer has time to route the case anew and still meet the member's SLA; but never less
than one working day after the pack is sent (a referral late in the review, or sent
again after a reroute, still gives the partner a working day). Working days are the
member's nation's, as for the review SLA. The partner may answer up to the end of that
London day; the review clock withdraws the referral on the next day it ticks.

A recall (`acknowledge_by`): the partner acknowledges by the end of the second working
day after the recall; an unacknowledged recall past it is an audit finding.
"""

from __future__ import annotations

from datetime import date, datetime, time
from uuid import NAMESPACE_URL, UUID, uuid5

from events.envelope import DomainEvent
from events.review import PartnerMessageRejected
from services.common.aggregate import Aggregate
from services.common.context import LONDON, Context
from services.review.domain.sla import add_working_days, subtract_working_days

#: Working days the partner's deadline keeps before the review's due date.
RESPOND_MARGIN_DAYS = 2
#: The least a partner is given to answer, in working days after the pack is sent.
RESPOND_AT_LEAST_DAYS = 1
#: Working days a partner has to acknowledge a recall.
ACKNOWLEDGE_DAYS = 2
#: The route name of the in-house team, as a reroute names it.
IN_HOUSE = "in_house"


def respond_by(sent_on: date, due_on: date, nation: str) -> date:
    return max(subtract_working_days(due_on, RESPOND_MARGIN_DAYS, nation),
               add_working_days(sent_on, RESPOND_AT_LEAST_DAYS, nation))


def acknowledge_by(recalled_on: date, nation: str) -> datetime:
    last_day = add_working_days(recalled_on, ACKNOWLEDGE_DAYS, nation)
    return datetime.combine(last_day, time(23, 59, 59), LONDON)


def ledger_id(partner: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"urn:cases:partner-ledger:{partner}")


class PartnerLedger(Aggregate):
    """One partner's messages that named no case of ours: recorded for the audit and told
    to the partner (`opinion_rejected`), changing nothing else."""

    def __init__(self, aggregate_id: UUID):
        super().__init__(aggregate_id)
        self.rejected = 0

    @classmethod
    def of(cls, partner: str) -> PartnerLedger:
        return cls(ledger_id(partner))

    def reject(self, partner: str, pack_id: UUID | None, reason: str, detail: str,
               message_id: UUID | None, ctx: Context) -> None:
        self.record(PartnerMessageRejected, ctx, partner=partner, pack_id=pack_id, reason=reason,
                    detail=detail, rejected_message_id=message_id)

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, PartnerMessageRejected):
            self.rejected += 1
