"""The second-opinion report: built from the opinion, delivered by consent, then closed."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from events.envelope import DomainEvent
from events.reporting import CaseClosed, Delivery, ReportDelivered, ReportPrepared
from events.review import OpinionSubmitted
from services.common.aggregate import Aggregate
from services.common.context import Context
from services.common.errors import Refused


class CaseReport(Aggregate):
    report_id: UUID | None = None
    delivered: bool = False
    closed: bool = False

    @classmethod
    def prepare(cls, existing: CaseReport | None, opinion: OpinionSubmitted, ctx: Context) -> CaseReport:
        report = existing or cls(opinion.case_id)
        if report.report_id is None:
            report.record(ReportPrepared, ctx, case_id=opinion.case_id, report_id=uuid4(),
                          outcome=opinion.outcome, summary=opinion.summary,
                          reviewer=opinion.reviewer, opinion_event_id=opinion.event_id)
        return report

    def deliver(self, case: dict[str, Any], ctx: Context) -> None:
        """To the member always; to the GP only while share_with_gp is in force."""
        if self.report_id is None:
            raise Refused("opinion_not_in", "the report cannot go out before the opinion is in")
        if self.delivered:
            raise Refused("report_already_delivered", "the report has already gone out")
        if case["status"] in ("cancelled", "declined"):
            raise Refused(f"case_{case['status']}", f"the case was {case['status']}: no report goes out")
        deliveries = [Delivery(recipient="member")]
        gp_consent = case["consent_events"].get("share_with_gp")
        withheld = None
        if gp_consent is None:
            withheld = "no_consent"
        elif not case["has_gp"]:
            withheld = "no_gp_on_file"
        else:
            deliveries.append(Delivery(recipient="gp", consent_event_id=UUID(gp_consent)))
        self.record(ReportDelivered, ctx, case_id=self.id, report_id=self.report_id,
                    deliveries=tuple(deliveries), gp_withheld=withheld)

    def close(self, reason: str, ctx: Context) -> None:
        if not self.delivered:
            raise Refused("report_not_delivered", "a case closes only after its report went out")
        if self.closed:
            raise Refused("case_closed", "the case is already closed")
        self.record(CaseClosed, ctx, case_id=self.id, reason=reason)

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, ReportPrepared):
            self.report_id = event.report_id
        elif isinstance(event, ReportDelivered):
            self.delivered = True
        elif isinstance(event, CaseClosed):
            self.closed = True
