"""Events recorded by reporting: the report and its delivery, and case closure."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from events.envelope import CaseEvent
from events.review import Outcome


class ReportPrepared(CaseEvent):
    """The member's report was built from the reviewer's opinion."""

    type_name = "report_prepared"
    service = "reporting"
    report_id: UUID
    outcome: Outcome
    summary: str
    reviewer: str
    opinion_event_id: UUID


class Delivery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    recipient: Literal["member", "gp"]
    consent_event_id: UUID | None = Field(
        default=None, description="The share_with_gp grant that allowed a GP copy"
    )


class ReportDelivered(CaseEvent):
    """The report went out: always to the member, to the GP only under consent."""

    type_name = "report_delivered"
    service = "reporting"
    report_id: UUID
    deliveries: tuple[Delivery, ...]
    gp_withheld: Literal["no_consent", "no_gp_on_file"] | None = None


class CaseClosed(CaseEvent):
    type_name = "case_closed"
    service = "reporting"
    reason: str
