"""The de-identified case fact published on cases.analytics.v1 for analytics teams.

Not a case event: a fact is the latest view of one case, keyed by a keyed pseudonym of the
case (`analytics_ref`), built from the case state by an allow-list of fields. It carries no
direct identifier (SPEC section 7): no name, NHS number, date of birth (an age band instead),
postcode, email, phone, GP details, and not the case id either.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from events.intake import DeliveryModel, Nation
from events.review import Outcome

TYPE_NAME: Literal["analytics_case_fact"] = "analytics_case_fact"
SCHEMA_VERSION: Literal[1] = 1


class AnalyticsCaseFact(BaseModel):
    """The latest de-identified view of one case, for analytics; a newer fact replaces it."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    #: The service that publishes it (reporting's analytics agent).
    service: ClassVar[str] = "reporting"

    type: Literal["analytics_case_fact"] = Field(description="Wire type name")
    schema_version: Literal[1] = Field(description="Payload major version")
    analytics_ref: str = Field(
        pattern=r"^[0-9a-f]{32}$",
        description="Keyed pseudonym of the case (HMAC-SHA256 of the case id under the "
        "deployment's analytics key, first 32 hex digits); stable per case, never the case id",
    )
    as_of: datetime = Field(
        description="When the latest event folded into this fact happened; of two facts for "
        "one analytics_ref, the one with the greater as_of is the newer view"
    )
    week: str = Field(
        pattern=r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$",
        description="ISO week of the member's request, e.g. '2026-W27'",
    )
    insurer: str | None = Field(description="Insurer of the policy; null if the policy is unknown")
    product: str | None = Field(description="Insurer's product; null if the policy is unknown")
    model: DeliveryModel | None = Field(
        description="Delivery model of the second opinion; null for a declined case"
    )
    specialty: str = Field(description="Clinical specialty of the condition, e.g. 'orthopaedics'")
    nation: Nation = Field(description="UK nation of the member (sets the bank holidays)")
    age_band: str = Field(description="Member's age at request in a 10-year band, e.g. '40-49'")
    status: str = Field(
        description="Case status (SPEC section 8): declined, awaiting_consent, "
        "collecting_records, in_review, report_issued, closed, cancelled, suspended"
    )
    decision: Literal["accepted", "declined"] = Field(description="Eligibility decision")
    declined_reasons: tuple[str, ...] = Field(
        description="Every failing eligibility rule, in the rules' order; empty if accepted"
    )
    outcome: Outcome | None = Field(
        description="The reviewer's opinion outcome; null until the opinion is in"
    )
    working_days_to_opinion: int | None = Field(
        ge=0, description="Working days from review start to opinion; null until it is in"
    )
    sla_met: bool | None = Field(
        description="Whether the opinion came within the SLA; null until it is in"
    )
    sla_breached: bool = Field(
        description="True once the review ran past its due date (flagged or a late opinion)"
    )


class AnalyticsWeek(BaseModel):
    """Weekly aggregates over the case facts, kept by the analytics agent (latest per week)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    service: ClassVar[str] = "reporting"

    type: Literal["analytics_week"] = Field(description="Wire type name")
    schema_version: Literal[1] = Field(description="Payload major version")
    week: str = Field(description="ISO week of the requests counted, e.g. '2026-W27'")
    opened: int = Field(ge=0, description="Cases requested that week")
    accepted: int = Field(ge=0, description="Of which accepted at eligibility")
    declined: int = Field(ge=0, description="Of which declined at eligibility")
    declined_by_reason: dict[str, int] = Field(description="Declines by eligibility rule")
    opinions: int = Field(ge=0, description="Opinions given so far")
    median_working_days_to_opinion: float | None = Field(
        description="Median working days from review start to opinion; null before any")
    sla_breach_rate: float | None = Field(
        description="Share of reviewed cases whose SLA was breached; null before any review")
    by_model: dict[str, int] = Field(description="Accepted cases by delivery model")
