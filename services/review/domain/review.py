"""The review of one case: routed by delivery model, timed by the SLA, ended by an opinion.

Routes: in_house -> the clinical team's queue and a matched reviewer; third_party -> a
referral of the pseudonymised pack to the expert network; further_consultation -> an
appointment with a recognised specialist, booked and attended.

A referral to a registered partner has a deadline (services/review/domain/partners.py); a
partner that misses it, or is removed, loses the referral: it goes to another partner of
the specialty, else to the in-house team. Each referral is known by (partner, pack id), so
a message from a partner is judged against what was sent to that partner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from events.envelope import DomainEvent
from events.records import CaseReadyForReview, ReviewPack, ReviewPackPrepared
from events.review import (
    AppointmentAttended,
    AppointmentBooked,
    ConflictOfInterestDeclared,
    NetworkReferralSent,
    NetworkReferralWithdrawn,
    NoReviewerAvailable,
    OpinionSubmitted,
    PartnerOpinionReceived,
    PartnerOpinionRejected,
    PartnerRecallAcknowledged,
    RecallOverdue,
    ReviewerAssigned,
    ReviewerDeclined,
    ReviewPackKept,
    ReviewRerouted,
    ReviewResumed,
    ReviewSlaBreached,
    ReviewStarted,
    ReviewStopped,
    ReviewSuspended,
)
from services.common.aggregate import Aggregate
from services.common.context import Context, london_date
from services.common.errors import Refused
from services.review.domain.partners import IN_HOUSE, acknowledge_by, respond_by
from services.review.domain.reviewers import ReviewerDirectory
from services.review.domain.sla import add_working_days, due_date, working_days_between

ROUTES = {
    "in_house": "in_house_queue",
    "third_party": "network_referral",
    "further_consultation": "further_consultation",
}


#: Withdrawals after which the partner takes no more referrals of this case.
EXCLUDING_REASONS = frozenset({"sla_missed", "partner_removed"})


@dataclass
class Referral:
    """One pack sent to one partner, and what became of it."""

    partner: str
    pack_id: UUID
    respond_by: date | None
    withdrawn_reason: str | None = None
    acknowledge_by: datetime | None = None
    acknowledged: bool = False
    overdue_flagged: bool = False
    answered: bool = False

    @property
    def open(self) -> bool:
        return self.withdrawn_reason is None and not self.answered

    @property
    def recall_pending(self) -> bool:
        return self.acknowledge_by is not None and not self.acknowledged and not self.overdue_flagged


class CaseReview(Aggregate):
    model: str
    route: str
    specialty: str
    nation: str
    started_on: date
    due_on: date
    sla_working_days: int
    reviewer_id: str | None = None
    partner: str | None = None
    pack_id: UUID | None = None
    appointment: tuple[str, date] | None = None
    attended: bool = False
    suspended_on: date | None = None
    days_used_before_suspension: int = 0
    stopped: bool = False
    breached: bool = False
    opinion: OpinionSubmitted | None = None

    consent_event_id: UUID | None = None
    started: bool = False

    def __init__(self, aggregate_id: UUID):
        super().__init__(aggregate_id)
        self.excluded: set[str] = set()
        self.clock_start: date | None = None
        #: Packs records prepared for this case, kept to be sent to a partner.
        self.packs: dict[UUID, ReviewPack] = {}
        self.referrals: dict[tuple[str, UUID], Referral] = {}
        #: Partners that missed their deadline on this case, or were removed.
        self.excluded_partners: set[str] = set()
        #: Partner messages accepted on this case (a second copy is a duplicate).
        self.accepted_messages: set[UUID] = set()

    # -- starting and routing ---------------------------------------------------------------

    @classmethod
    def keep_pack(cls, review: CaseReview | None, prepared: ReviewPackPrepared, ctx: Context) -> CaseReview:
        """Keep records' pack for the partner the case will be referred to; it comes just
        before the case is ready for review (or ready again, after a suspension)."""
        review = review or cls(prepared.case_id)
        if prepared.pack_id not in review.packs:
            review.record(ReviewPackKept, ctx, case_id=prepared.case_id, pack_id=prepared.pack_id,
                          pack=prepared.pack)
        return review

    @classmethod
    def start(cls, ready: CaseReadyForReview, directory: ReviewerDirectory, ctx: Context,
              review: CaseReview | None = None) -> CaseReview:
        review = review or cls(ready.case_id)
        started_on = ready.ready_on
        review.record(
            ReviewStarted, ctx, case_id=ready.case_id, model=ready.model, route=ROUTES[ready.model],
            specialty=ready.specialty, nation=ready.nation, started_on=started_on,
            sla_working_days=ready.sla_working_days,
            due_on=due_date(started_on, ready.sla_working_days, ready.nation),
        )
        review.route_case(ready, directory, ctx)
        return review

    def route_case(self, ready: CaseReadyForReview, directory: ReviewerDirectory, ctx: Context) -> None:
        if self.route == "network_referral":
            assert ready.pack_id is not None and ready.consent_event_id is not None
            partner = directory.network_for(self.specialty, self.id, self.excluded_partners)
            self.refer(partner, ready.pack_id, ready.consent_event_id, directory, ctx)
        else:
            self.assign_next(directory, ctx)

    def refer(self, partner: str, pack_id: UUID, consent_event_id: UUID, directory: ReviewerDirectory,
              ctx: Context) -> None:
        """Send the pack to a network; a registered partner is given a deadline."""
        deadline = respond_by(ctx.today, self.due_on, self.nation) if directory.is_partner(partner) else None
        self.record(NetworkReferralSent, ctx, case_id=self.id, partner=partner, pack_id=pack_id,
                    consent_event_id=consent_event_id, respond_by=deadline)

    def reroute(self, reason: str, directory: ReviewerDirectory, ctx: Context) -> None:
        """Take the referral from its partner (it missed its deadline, or was removed) and
        give it to another partner of the specialty, else to the in-house team."""
        if self.partner is None or self.pack_id is None or self.consent_event_id is None:
            return
        old, pack_id, consent = self.partner, self.pack_id, self.consent_event_id
        self.withdraw_referral(reason, ctx)
        nxt = directory.partner_for(self.specialty, self.id, self.excluded_partners)
        self.record(ReviewRerouted, ctx, case_id=self.id, rerouted_from=old,
                    rerouted_to=nxt or IN_HOUSE, reason=reason)
        if nxt is not None:
            self.refer(nxt, pack_id, consent, directory, ctx)
        else:
            self.assign_next(directory, ctx)

    def drop_partner(self, partner: str, directory: ReviewerDirectory, ctx: Context) -> bool:
        """The partner was removed: its open referral of this case is routed anew."""
        current = self.current_referral()
        if current is None or current.partner != partner or not current.open:
            return False
        if self.stopped or self.opinion is not None or self.suspended_on is not None:
            return False
        self.reroute("partner_removed", directory, ctx)
        return True

    def miss_partner_deadline(self, today: date, directory: ReviewerDirectory, ctx: Context) -> bool:
        """Past the partner's deadline with no opinion: route anew. True if it did."""
        if self.stopped or self.opinion is not None or self.suspended_on is not None:
            return False
        current = self.current_referral()
        if current is None or not current.open or current.respond_by is None or today <= current.respond_by:
            return False
        self.reroute("sla_missed", directory, ctx)
        return True

    def flag_overdue_recalls(self, now: datetime, ctx: Context) -> int:
        overdue = [r for r in self.referrals.values()
                   if r.recall_pending and r.acknowledge_by is not None and now > r.acknowledge_by]
        for referral in overdue:
            self.record(RecallOverdue, ctx, case_id=self.id, partner=referral.partner,
                        pack_id=referral.pack_id, acknowledge_by=referral.acknowledge_by)
        return len(overdue)

    def current_referral(self) -> Referral | None:
        if self.partner is None or self.pack_id is None:
            return None
        return self.referrals.get((self.partner, self.pack_id))

    def assign_next(self, directory: ReviewerDirectory, ctx: Context) -> None:
        reviewer = directory.match(self.route, self.specialty, self.id, self.excluded)
        if reviewer is None:
            self.record(NoReviewerAvailable, ctx, case_id=self.id, specialty=self.specialty)
            return
        self.record(ReviewerAssigned, ctx, case_id=self.id, reviewer_id=reviewer.reviewer_id,
                    reviewer_name=reviewer.name)
        if self.route == "further_consultation":
            self.record(AppointmentBooked, ctx, case_id=self.id, specialist_id=reviewer.reviewer_id,
                        specialist_name=reviewer.name,
                        appointment_on=add_working_days(ctx.today, 3, self.nation))

    def decline(self, reason: str, directory: ReviewerDirectory, ctx: Context) -> None:
        reviewer = self.check_assigned()
        self.record(ReviewerDeclined, ctx, case_id=self.id, reviewer_id=reviewer, reason=reason)
        self.assign_next(directory, ctx)

    def declare_conflict(self, nature: str, directory: ReviewerDirectory, ctx: Context) -> None:
        reviewer = self.check_assigned()
        self.record(ConflictOfInterestDeclared, ctx, case_id=self.id, reviewer_id=reviewer, nature=nature)
        self.assign_next(directory, ctx)

    def assign_if_waiting(self, directory: ReviewerDirectory, ctx: Context) -> None:
        """A review that found nobody in the directory takes a reviewer once one is there."""
        if self.stopped or self.opinion is not None or self.reviewer_id is not None:
            return
        if self.route == "network_referral":
            return
        if directory.match(self.route, self.specialty, self.id, self.excluded) is not None:
            self.assign_next(directory, ctx)

    def attend_appointment(self, ctx: Context) -> None:
        self.check_in_progress()
        if self.appointment is None:
            raise Refused("no_appointment", "no appointment has been booked for this case")
        if ctx.today < self.appointment[1]:
            raise Refused("appointment_not_yet",
                          f"the appointment is on {self.appointment[1].isoformat()}; attendance is recorded on or after that day")
        if not self.attended:
            self.record(AppointmentAttended, ctx, case_id=self.id, specialist_id=self.appointment[0],
                        attended_on=ctx.today)

    # -- suspension and stopping ------------------------------------------------------------

    def suspend(self, reason: str, ctx: Context) -> None:
        if self.stopped or self.opinion is not None or self.suspended_on is not None:
            return
        used = self.days_used_before_suspension + working_days_between(self.clock_started(), ctx.today, self.nation)
        self.withdraw_referral(reason, ctx)
        self.record(ReviewSuspended, ctx, case_id=self.id, reason=reason, working_days_used=used)

    def resume(self, ready: CaseReadyForReview, directory: ReviewerDirectory, ctx: Context) -> None:
        """The clock restarts with the working days it had left when it stopped."""
        if self.suspended_on is None or self.stopped:
            return
        left = max(self.sla_working_days - self.days_used_before_suspension, 0)
        self.record(ReviewResumed, ctx, case_id=self.id, resumed_on=ready.ready_on,
                    due_on=add_working_days(ready.ready_on, left, self.nation))
        if self.route == "network_referral":
            self.route_case(ready, directory, ctx)

    def stop(self, reason: str, ctx: Context) -> None:
        if self.stopped or self.opinion is not None:
            return
        self.withdraw_referral(reason, ctx)
        self.record(ReviewStopped, ctx, case_id=self.id, reason=reason)

    def withdraw_referral(self, reason: str, ctx: Context) -> None:
        """Tell the network to stop and destroy the pack. A registered partner (its referral
        has a deadline) acknowledges the recall by a deadline of its own; a removed one is
        not told (its access is already revoked)."""
        if self.partner is not None and self.pack_id is not None:
            current = self.current_referral()
            recalled = (current is not None and current.respond_by is not None
                        and reason != "partner_removed")
            self.record(NetworkReferralWithdrawn, ctx, case_id=self.id, partner=self.partner,
                        pack_id=self.pack_id, reason=reason,
                        acknowledge_by=acknowledge_by(ctx.today, self.nation) if recalled else None)

    # -- SLA and opinion --------------------------------------------------------------------

    def flag_breach_if_overdue(self, today: date, ctx: Context) -> None:
        if self.breached or self.stopped or self.opinion is not None or self.suspended_on is not None:
            return
        if today > self.due_on:
            self.record(ReviewSlaBreached, ctx, case_id=self.id, due_on=self.due_on, detected_on=today)

    def submit_opinion(self, outcome: str, summary: str, reviewer: str, directory: ReviewerDirectory,
                       ctx: Context) -> None:
        self.check_in_progress()
        self.check_author(reviewer, directory)
        if self.route == "further_consultation" and self.appointment and not self.attended:
            # The specialist's opinion is given at the consultation: it took place.
            self.attend_appointment(ctx)
        today = ctx.today
        used = self.days_used_before_suspension + working_days_between(self.clock_started(), today, self.nation)
        sla_met = today <= self.due_on
        if not sla_met:
            self.flag_breach_if_overdue(today, ctx)
        self.record(OpinionSubmitted, ctx, case_id=self.id, outcome=outcome, summary=summary,
                    reviewer=reviewer, submitted_on=today, working_days_used=used, sla_met=sla_met)

    # -- partner messages -------------------------------------------------------------------

    def judge_partner_opinion(self, partner: str, pack_id: UUID, message_id: UUID) -> tuple[str, str] | None:
        """Why this partner's opinion on the pack cannot be accepted, as (reason, detail),
        or None when it is accepted."""
        referral = self.referrals.get((partner, pack_id))
        if referral is None:
            return "not_yours", "pack_id: this pack was not sent to you"
        if message_id in self.accepted_messages or referral.answered:
            return "duplicate", "pack_id: an opinion on this pack was already accepted"
        if referral.withdrawn_reason is not None:
            if referral.withdrawn_reason == "sla_missed":
                return "late", "pack_id: the pack was recalled after its respond_by date passed"
            return "recalled", "pack_id: the pack was recalled; destroy it and acknowledge the recall"
        if self.opinion is not None:
            return "duplicate", "pack_id: the opinion on this pack was already given by other means"
        if self.stopped or self.suspended_on is not None:
            return "recalled", "pack_id: the pack was recalled"
        return None

    def accept_partner_opinion(self, partner: str, pack_id: UUID, message_id: UUID, outcome: str,
                               summary: str, reviewer: str, directory: ReviewerDirectory,
                               ctx: Context) -> None:
        """The audited re-identification of the pack, then the case's opinion."""
        self.record(PartnerOpinionReceived, ctx, case_id=self.id, partner=partner, pack_id=pack_id,
                    message_id=message_id)
        self.submit_opinion(outcome, summary, reviewer, directory, ctx)

    def judge_recall_acknowledgement(self, partner: str, pack_id: UUID, message_id: UUID) -> tuple[str, str] | None:
        referral = self.referrals.get((partner, pack_id))
        if referral is None:
            return "not_yours", "pack_id: this pack was not sent to you"
        if referral.acknowledged or message_id in self.accepted_messages:
            return "duplicate", "pack_id: the recall of this pack was already acknowledged"
        if referral.withdrawn_reason is None:
            return "invalid", "type: this pack was not recalled; there is nothing to acknowledge"
        return None

    def acknowledge_recall(self, partner: str, pack_id: UUID, message_id: UUID, ctx: Context) -> None:
        self.record(PartnerRecallAcknowledged, ctx, case_id=self.id, partner=partner, pack_id=pack_id,
                    message_id=message_id)

    def reject_partner_message(self, partner: str, pack_id: UUID, reason: str, detail: str,
                               message_id: UUID | None, ctx: Context) -> None:
        self.record(PartnerOpinionRejected, ctx, case_id=self.id, partner=partner, pack_id=pack_id,
                    reason=reason, detail=detail, rejected_message_id=message_id)

    # -- checks -----------------------------------------------------------------------------

    def check_in_progress(self) -> None:
        if self.stopped:
            raise Refused("review_stopped", "the review was stopped")
        if self.suspended_on is not None:
            raise Refused("review_suspended", "the review is suspended until consent is given again")
        if self.opinion is not None:
            raise Refused("opinion_already_submitted", "the opinion for this case is already in")

    def clock_started(self) -> date:
        """The day the SLA clock last (re)started: the review's start, or its resumption."""
        return self.clock_start if self.clock_start is not None else self.started_on

    def check_author(self, reviewer: str, directory: ReviewerDirectory) -> None:
        """An in-house or consultant opinion comes from the reviewer assigned to the case,
        named by id or name. A network referral's opinion names the network's own expert,
        whom the insurer's directory does not list."""
        if self.route == "network_referral":
            return
        assigned = self.check_assigned()
        known = directory.reviewers.get(assigned)
        names = {assigned, known.name if known else assigned}
        wanted = " ".join(reviewer.split()).casefold()
        if wanted not in {" ".join(n.split()).casefold() for n in names}:
            raise Refused("not_assigned_reviewer",
                          "the opinion must come from the reviewer assigned to this case")

    def check_assigned(self) -> str:
        self.check_in_progress()
        if self.reviewer_id is None:
            raise Refused("no_reviewer_assigned", "no reviewer is assigned to this case")
        return self.reviewer_id

    # -- state ------------------------------------------------------------------------------

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, ReviewStarted):
            self.model, self.route, self.specialty = event.model, event.route, event.specialty
            self.nation, self.started_on, self.due_on = event.nation, event.started_on, event.due_on
            self.sla_working_days, self.clock_start = event.sla_working_days, event.started_on
            self.started = True
        elif isinstance(event, ReviewPackKept):
            self.packs[event.pack_id] = event.pack
        elif isinstance(event, ReviewRerouted):
            if event.rerouted_to == IN_HOUSE:
                self.route, self.partner = "in_house_queue", None
        elif isinstance(event, (PartnerOpinionReceived, PartnerRecallAcknowledged)):
            self.accepted_messages.add(event.message_id)
            referral = self.referrals.get((event.partner, event.pack_id))
            if referral is not None and isinstance(event, PartnerOpinionReceived):
                referral.answered = True
            elif referral is not None:
                referral.acknowledged = True
        elif isinstance(event, RecallOverdue):
            referral = self.referrals.get((event.partner, event.pack_id))
            if referral is not None:
                referral.overdue_flagged = True
        elif isinstance(event, ReviewerAssigned):
            self.reviewer_id = event.reviewer_id
        elif isinstance(event, (ReviewerDeclined, ConflictOfInterestDeclared)):
            self.excluded.add(event.reviewer_id)
            self.reviewer_id, self.appointment, self.attended = None, None, False
        elif isinstance(event, NetworkReferralSent):
            self.partner, self.pack_id = event.partner, event.pack_id
            self.consent_event_id = event.consent_event_id
            self.referrals[(event.partner, event.pack_id)] = Referral(event.partner, event.pack_id,
                                                                      event.respond_by)
        elif isinstance(event, NetworkReferralWithdrawn):
            self.pack_id = None
            referral = self.referrals.get((event.partner, event.pack_id))
            if referral is not None:
                referral.withdrawn_reason, referral.acknowledge_by = event.reason, event.acknowledge_by
            if event.reason in EXCLUDING_REASONS:
                self.excluded_partners.add(event.partner)
        elif isinstance(event, AppointmentBooked):
            self.appointment = (event.specialist_id, event.appointment_on)
        elif isinstance(event, AppointmentAttended):
            self.attended = True
        elif isinstance(event, ReviewSuspended):
            self.suspended_on = london_date(event.occurred_at)
            self.days_used_before_suspension = event.working_days_used
        elif isinstance(event, ReviewResumed):
            self.suspended_on, self.due_on, self.clock_start = None, event.due_on, event.resumed_on
        elif isinstance(event, ReviewStopped):
            self.stopped = True
        elif isinstance(event, ReviewSlaBreached):
            self.breached = True
        elif isinstance(event, OpinionSubmitted):
            self.opinion = event
