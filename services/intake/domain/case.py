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
    IdentityRevealed,
    MemberErased,
)
from services.common.aggregate import Aggregate
from services.common.context import Context
from services.common.errors import Refused

Status = Literal["opened", "accepted", "declined", "cancelled", "concluded"]


class Case(Aggregate):
    status: Status = "opened"
    model: str | None = None
    member_ref: UUID | None = None
    erased: bool = False

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, CaseOpened):
            self.status, self.member_ref = "opened", event.member_ref
        elif isinstance(event, MemberErased):
            self.erased = True
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


    def record_reveal(self, fields: tuple[str, ...], purpose: str, ctx: Context) -> None:
        """A read of the member's plaintext; allowed in any status, always recorded."""
        assert self.member_ref is not None
        self.record(IdentityRevealed, ctx, case_id=self.id, member_ref=self.member_ref,
                    fields=fields, purpose=purpose)

    def erase_member(self, reason: str, ctx: Context) -> None:
        """Record the erasure on this case of the member (the key goes after, in the vault)."""
        assert self.member_ref is not None
        if not self.erased:
            self.record(MemberErased, ctx, case_id=self.id, member_ref=self.member_ref, reason=reason)


def check_open(case: Case) -> None:
    """Any command on a declined or cancelled case is refused."""
    if case.status == "declined":
        raise Refused("case_declined", "the case was declined at eligibility")
    if case.status == "cancelled":
        raise Refused("case_cancelled", "the case was cancelled")
