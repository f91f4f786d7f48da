"""Events recorded by reporting: the report and its delivery, case closure, and how people
handled dead-lettered messages (retried, or resolved after review)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from events.envelope import CaseEvent, DomainEvent
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
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
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


DeadLetterOutcome = Literal["applied", "already_applied", "nothing_to_apply", "failed"]


class DeadLetterRetried(DomainEvent):
    """A person handed a dead-lettered message again to the service that had failed it."""

    type_name = "dead_letter_retried"
    service = "reporting"
    dead_letter: str = Field(description="Where the dead letter is: cases.deadletter.v1:PARTITION:OFFSET")
    origin: str = Field(description="Where the failed message is: TOPIC:PARTITION:OFFSET")
    consumer: str = Field(description="The service that failed it, and that it was handed to again")
    event_type: str | None = Field(default=None, description="The message's event type, if known")
    message_event_id: UUID | None = Field(default=None, description="The message's event id, if known")
    outcome: DeadLetterOutcome = Field(
        description="applied; already_applied (its effect was stored before: nothing done twice);"
                    " nothing_to_apply (the service does not react to it); failed (still dead-lettered)")
    reason: str | None = Field(default=None, description="Why it failed again (never the data)")


class DeadLetterResolved(DomainEvent):
    """A person reviewed a dead-lettered message and decided it needs nothing further."""

    type_name = "dead_letter_resolved"
    service = "reporting"
    dead_letter: str = Field(description="Where the dead letter is: cases.deadletter.v1:PARTITION:OFFSET")
    origin: str = Field(description="Where the failed message is: TOPIC:PARTITION:OFFSET")
    consumer: str = Field(description="The service that failed it")
    resolved_by: str = Field(description="Who reviewed it")
    note: str = Field(min_length=1, description="Why nothing further is needed")
