"""The review of one case: routed by delivery model, timed by the SLA, ended by an opinion.

Routes: in_house -> the clinical team's queue and a matched reviewer; third_party -> a
referral of the pseudonymised pack to the expert network; further_consultation -> an
appointment with a recognised specialist, booked and attended.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from events.envelope import DomainEvent
from events.records import CaseReadyForReview
from events.review import (
    AppointmentAttended,
    AppointmentBooked,
    ConflictOfInterestDeclared,
    NetworkReferralSent,
    NetworkReferralWithdrawn,
    NoReviewerAvailable,
    OpinionSubmitted,
    ReviewerAssigned,
    ReviewerDeclined,
    ReviewResumed,
    ReviewSlaBreached,
    ReviewStarted,
    ReviewStopped,
    ReviewSuspended,
)
from services.common.aggregate import Aggregate
from services.common.context import Context, london_date
from services.common.errors import Refused
from services.review.domain.reviewers import ReviewerDirectory
from services.review.domain.sla import add_working_days, due_date, working_days_between

ROUTES = {
    "in_house": "in_house_queue",
    "third_party": "network_referral",
    "further_consultation": "further_consultation",
}


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

    def __init__(self, aggregate_id: UUID):
        super().__init__(aggregate_id)
        self.excluded: set[str] = set()
        self.clock_start: date | None = None

    # -- starting and routing ---------------------------------------------------------------

    @classmethod
    def start(cls, ready: CaseReadyForReview, directory: ReviewerDirectory, ctx: Context) -> CaseReview:
        review = cls(ready.case_id)
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
            partner = directory.network_for(self.specialty, self.id)
            self.record(NetworkReferralSent, ctx, case_id=self.id, partner=partner,
                        pack_id=ready.pack_id, consent_event_id=ready.consent_event_id)
        else:
            self.assign_next(directory, ctx)

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
        if self.partner is not None and self.pack_id is not None:
            self.record(NetworkReferralWithdrawn, ctx, case_id=self.id, partner=self.partner,
                        pack_id=self.pack_id, reason=reason)

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
        elif isinstance(event, ReviewerAssigned):
            self.reviewer_id = event.reviewer_id
        elif isinstance(event, (ReviewerDeclined, ConflictOfInterestDeclared)):
            self.excluded.add(event.reviewer_id)
            self.reviewer_id, self.appointment, self.attended = None, None, False
        elif isinstance(event, NetworkReferralSent):
            self.partner, self.pack_id = event.partner, event.pack_id
        elif isinstance(event, NetworkReferralWithdrawn):
            self.pack_id = None
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
