"""The Case as intake knows it: opened, decided, maybe cancelled or concluded."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from events.envelope import DomainEvent
from events.intake import (
    CaseCancelled,
    CaseConcluded,
    CaseOpened,
    EligibilityConfirmed,
    EligibilityDeclined,
)
from services.common.aggregate import Aggregate
from services.common.context import Context
from services.common.errors import Refused

Status = Literal["opened", "accepted", "declined", "cancelled", "concluded"]


class Case(Aggregate):
    status: Status = "opened"
    model: str | None = None

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, CaseOpened):
            self.status = "opened"
        elif isinstance(event, EligibilityConfirmed):
            self.status, self.model = "accepted", event.model
        elif isinstance(event, EligibilityDeclined):
            self.status = "declined"
        elif isinstance(event, CaseCancelled):
            self.status = "cancelled"
        elif isinstance(event, CaseConcluded):
            self.status = "concluded"

    def cancel(self, reason: str, by: Literal["member", "insurer"], ctx: Context) -> None:
        check_open(self)
        if self.status == "concluded":
            raise Refused("case_concluded", "the report has gone out; the case can no longer be cancelled")
        self.record(CaseCancelled, ctx, case_id=self.id, reason=reason, cancelled_by=by)

    def conclude(self, report_event_id: UUID, ctx: Context) -> None:
        if self.status == "accepted":
            self.record(CaseConcluded, ctx, case_id=self.id, report_event_id=report_event_id)


def check_open(case: Case) -> None:
    """Any command on a declined or cancelled case is refused."""
    if case.status == "declined":
        raise Refused("case_declined", "the case was declined at eligibility")
    if case.status == "cancelled":
        raise Refused("case_cancelled", "the case was cancelled")
