"""Events recorded by review: routing, reviewers, appointments, SLA and opinions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from events.envelope import CaseEvent, DomainEvent
from events.intake import DeliveryModel, Nation
from events.records import ReviewPack

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
    respond_by: date | None = Field(
        None, description="A registered partner's deadline; past it the referral is routed anew")


class NetworkReferralWithdrawn(CaseEvent):
    """The network was told to stop and destroy the pack."""

    type_name = "network_referral_withdrawn"
    service = "review"
    partner: str
    pack_id: UUID
    reason: str
    acknowledge_by: datetime | None = Field(
        None, description="When a registered partner's recall_acknowledged is due")


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


# -- reviewer partners (SPEC section 9) ---------------------------------------------------------

#: A partner's name is part of its topics, consumer groups and SCRAM user: lower-case
#: letters, digits and dashes, so that no name reaches into another partner's prefix.
PARTNER_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{1,40}$"
#: Why a referral was taken from a partner and given to another (or to the in-house team).
RerouteReason = Literal["sla_missed", "partner_removed"]
#: Why a partner's message was not accepted (events/partner.py OpinionRejected.reason).
RejectionReason = Literal["invalid", "unknown_pack", "recalled", "duplicate", "late", "not_yours"]


class PartnerRegistered(DomainEvent):
    """A reviewer partner (a third-party expert network) became the network for these
    specialties, or had its specialties changed."""

    type_name = "partner_registered"
    service = "review"
    name: str = Field(pattern=PARTNER_NAME_PATTERN)
    specialties: tuple[str, ...] = Field(min_length=1)


class PartnerRemoved(DomainEvent):
    """A partner no longer takes referrals; its open referrals are routed anew."""

    type_name = "partner_removed"
    service = "review"
    name: str
    reason: str


class ReviewPackKept(CaseEvent):
    """Records' pseudonymised pack, kept by review for the partner the case is referred to
    (its free text stays sealed under the member's key until it is sent)."""

    type_name = "review_pack_kept"
    service = "review"
    pack_id: UUID
    pack: ReviewPack


class ReviewRerouted(CaseEvent):
    """The referral left a partner: it went to another partner of the specialty or, with
    none left, to the in-house team (`rerouted_to` = "in_house")."""

    type_name = "review_rerouted"
    service = "review"
    rerouted_from: str
    rerouted_to: str
    reason: RerouteReason


class PartnerOpinionReceived(CaseEvent):
    """A partner's opinion on a pack was accepted: the pack was re-identified as this case
    (the audited re-identification); the case's opinion_submitted follows."""

    type_name = "partner_opinion_received"
    service = "review"
    partner: str
    pack_id: UUID
    message_id: UUID


class PartnerRecallAcknowledged(CaseEvent):
    """The partner confirmed it stopped work on a recalled pack and destroyed its copy."""

    type_name = "recall_acknowledged"
    service = "review"
    partner: str
    pack_id: UUID
    message_id: UUID


class RecallOverdue(CaseEvent):
    """A recalled pack was not acknowledged by its deadline (an audit finding)."""

    type_name = "recall_overdue"
    service = "review"
    partner: str
    pack_id: UUID
    acknowledge_by: datetime


class PartnerOpinionRejected(CaseEvent):
    """A partner's message about one of this case's packs was not accepted (late, after a
    recall, twice, not the partner's pack, or unreadable): nothing else changed."""

    type_name = "partner_opinion_rejected"
    service = "review"
    partner: str
    pack_id: UUID
    reason: RejectionReason
    detail: str = Field(max_length=500)
    rejected_message_id: UUID | None = None


class PartnerMessageRejected(DomainEvent):
    """A partner's message that names no pack of any case (unknown, or unreadable) was
    not accepted; recorded on the partner's own ledger, not on a case."""

    type_name = "partner_message_rejected"
    service = "review"
    partner: str
    pack_id: UUID | None = None
    reason: RejectionReason
    detail: str = Field(max_length=500)
    rejected_message_id: UUID | None = None
