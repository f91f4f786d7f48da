"""Events recorded by review: routing, reviewers, appointments, SLA and opinions."""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import Field

from events.envelope import CaseEvent, DomainEvent
from events.intake import DeliveryModel, Nation

Outcome = Literal["confirmed", "alternative_treatment", "diagnosis_changed", "inconclusive"]
OUTCOMES: tuple[str, ...] = Outcome.__args__  # type: ignore[attr-defined]
ReviewerKind = Literal["in_house", "network", "consultant"]


class ReviewerRegistered(DomainEvent):
    """A reviewer joined (or was updated in) the directory."""

    type_name = "reviewer_registered"
    service = "review"
    reviewer_id: str
    name: str
    kind: ReviewerKind
    specialties: tuple[str, ...]
    organisation: str
    gmc_number: str | None = None


class ReviewStarted(CaseEvent):
    """The review began; the SLA clock runs from the start day (not counted)."""

    type_name = "review_started"
    service = "review"
    model: DeliveryModel
    route: Literal["in_house_queue", "network_referral", "further_consultation"]
    specialty: str
    nation: Nation
    started_on: date
    sla_working_days: int
    due_on: date


class ReviewerAssigned(CaseEvent):
    type_name = "reviewer_assigned"
    service = "review"
    reviewer_id: str
    reviewer_name: str


class ReviewerDeclined(CaseEvent):
    type_name = "reviewer_declined"
    service = "review"
    reviewer_id: str
    reason: Literal["capacity", "out_of_scope", "unavailable"]


class ConflictOfInterestDeclared(CaseEvent):
    type_name = "conflict_of_interest_declared"
    service = "review"
    reviewer_id: str
    nature: str


class NoReviewerAvailable(CaseEvent):
    """Nobody left in the directory can take the case; it waits in the queue."""

    type_name = "no_reviewer_available"
    service = "review"
    specialty: str


class NetworkReferralSent(CaseEvent):
    """The pseudonymised pack went to the external expert network."""

    type_name = "network_referral_sent"
    service = "review"
    partner: str
    pack_id: UUID
    consent_event_id: UUID = Field(description="The third_party_disclosure grant in force")


class NetworkReferralWithdrawn(CaseEvent):
    """The network was told to stop and destroy the pack."""

    type_name = "network_referral_withdrawn"
    service = "review"
    partner: str
    pack_id: UUID
    reason: str


class AppointmentBooked(CaseEvent):
    type_name = "appointment_booked"
    service = "review"
    specialist_id: str
    specialist_name: str
    appointment_on: date


class AppointmentAttended(CaseEvent):
    type_name = "appointment_attended"
    service = "review"
    specialist_id: str
    attended_on: date


class ReviewSuspended(CaseEvent):
    type_name = "review_suspended"
    service = "review"
    reason: str
    working_days_used: int


class ReviewResumed(CaseEvent):
    """The review restarted; the clock resumes with the working days it had left."""

    type_name = "review_resumed"
    service = "review"
    resumed_on: date
    due_on: date


class ReviewStopped(CaseEvent):
    type_name = "review_stopped"
    service = "review"
    reason: str


class ReviewSlaBreached(CaseEvent):
    type_name = "review_sla_breached"
    service = "review"
    due_on: date
    detected_on: date


class OpinionSubmitted(CaseEvent):
    """The reviewer's opinion, one of the four outcomes."""

    type_name = "opinion_submitted"
    service = "review"
    outcome: Outcome
    summary: str
    reviewer: str
    submitted_on: date
    working_days_used: int
    sla_met: bool
