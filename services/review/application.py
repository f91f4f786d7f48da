"""Review: routing by delivery model, the reviewer directory, the SLA clock, opinions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

from events import intake, records
from events.envelope import CaseEvent, DomainEvent
from events.intake import CaseCancelled
from events.records import CaseReadyForReview, ReviewConsentWithdrawn
from events.review import (
    NoReviewerAvailable,
    OpinionSubmitted,
    ReviewerAssigned,
    ReviewResumed,
    ReviewSlaBreached,
    ReviewStarted,
    ReviewStopped,
    ReviewSuspended,
)
from services.common.context import Context, london_date
from services.common.errors import Refused
from services.review.domain.review import CaseReview
from services.review.domain.reviewers import DIRECTORY_ID, Reviewer, ReviewerDirectory
from services.runtime.application import Reaction, ServiceApplication
from services.runtime.keystore import MemberKeys as Vault

_CLOCK_EVENTS = [
    e.type_name
    for e in (ReviewStarted, ReviewResumed, ReviewSuspended, ReviewStopped, ReviewSlaBreached, OpinionSubmitted)
]
_WAITING_EVENTS = [e.type_name for e in (NoReviewerAvailable, ReviewerAssigned, ReviewStopped, OpinionSubmitted)]


class Review(ServiceApplication):
    name = "review"

    def __init__(self, env: dict[str, str], clock: Any = None, *, vault: Vault | None):
        super().__init__(env, clock)
        self.vault = vault  # seals the opinion's free text under the member's key

    # -- directory ------------------------------------------------------------------------

    def register_reviewers(self, reviewers: Iterable[Reviewer], ctx: Context) -> int:
        """Add or update reviewers; a review that was waiting for one is assigned now, in
        the same transaction."""
        directory = self.directory()
        before = directory.version
        for reviewer in reviewers:
            directory.register(reviewer, ctx)
        changed = directory.version - before
        waiting = [r for r in (self.load(CaseReview, case_id) for case_id in self.waiting_for_reviewer())
                   if r is not None]
        for review in waiting:
            review.assign_if_waiting(directory, ctx)
        self.save(directory, *waiting)
        return changed

    def directory(self) -> ReviewerDirectory:
        return self.load(ReviewerDirectory, DIRECTORY_ID) or ReviewerDirectory()

    # -- commands -------------------------------------------------------------------------

    def submit_opinion(self, case_id: UUID, outcome: str, summary: str, reviewer: str, ctx: Context) -> None:
        member = self.vault.member_of(case_id) if self.vault is not None else None
        if self.vault is None or member is None:
            raise RuntimeError("no key for this case's member: the opinion cannot be sealed")
        summary = self.vault.seal(member, summary)
        directory = self.directory()
        self._change(case_id, lambda r: r.submit_opinion(outcome, summary, reviewer, directory, ctx))

    def decline(self, case_id: UUID, reason: str, ctx: Context) -> None:
        directory = self.directory()
        self._change(case_id, lambda r: r.decline(reason, directory, ctx))

    def declare_conflict(self, case_id: UUID, nature: str, ctx: Context) -> None:
        directory = self.directory()
        self._change(case_id, lambda r: r.declare_conflict(nature, directory, ctx))

    def attend_appointment(self, case_id: UUID, ctx: Context) -> None:
        self._change(case_id, lambda r: r.attend_appointment(ctx))

    def _change(self, case_id: UUID, command: Callable[[CaseReview], None]) -> None:
        review = self.load(CaseReview, case_id)
        if review is None:
            raise Refused("not_in_review", "the case is not in review")
        command(review)
        self.save(review)

    # -- the SLA clock ----------------------------------------------------------------------

    def on_timer(self, now: datetime) -> int:
        """The clock's tick: flag every running review past its due date."""
        ctx = Context(actor="service:review", now=now)
        flagged = self.flag_overdue_reviews(london_date(now), ctx)
        if flagged and self.breaches is not None:
            self.breaches.labels(self.name).inc(flagged)
        return flagged

    breaches: Any = None  # the worker's counter, once registered

    def register_metrics(self, registry: Any) -> None:
        from prometheus_client import Counter

        self.breaches = Counter("cases_sla_breaches_flagged",
                                "Reviews flagged as past their SLA by the review clock",
                                ["service"], registry=registry)
        self.breaches.labels(self.name)

    def flag_overdue_reviews(self, today: date, ctx: Context) -> int:
        """Record a breach on every running review whose due date has passed."""
        overdue = [case_id for case_id, due in self.running_reviews().items() if today > due]
        flagged = []
        for case_id in overdue:
            review = self.load(CaseReview, case_id)
            if review is not None:
                review.flag_breach_if_overdue(today, ctx)
                flagged.append(review)
        self.save(*flagged)
        return sum(1 for r in flagged if r.breached)

    def running_reviews(self) -> dict[UUID, date]:
        """Due dates of reviews neither finished, stopped, suspended nor already breached,
        read from this service's own notification log (no aggregate is loaded)."""
        due: dict[UUID, date] = {}
        for event in self.stored_events(topics=_CLOCK_EVENTS):
            if isinstance(event, (ReviewStarted, ReviewResumed)):
                due[event.case_id] = event.due_on
            elif isinstance(event, CaseEvent):
                due.pop(event.case_id, None)
        return due

    def waiting_for_reviewer(self) -> list[UUID]:
        """Reviews that found no reviewer in the directory and still have none."""
        waiting: dict[UUID, bool] = {}
        for event in self.stored_events(topics=_WAITING_EVENTS):
            if isinstance(event, CaseEvent):
                waiting[event.case_id] = isinstance(event, NoReviewerAvailable)
        return [case_id for case_id, is_waiting in waiting.items() if is_waiting]

    # -- reactions ------------------------------------------------------------------------

    def on_case_ready(self, event: CaseReadyForReview, ctx: Context) -> CaseReview:
        review = self.load(CaseReview, event.case_id)
        if review is None:
            return CaseReview.start(event, self.directory(), ctx)
        review.resume(event, self.directory(), ctx)
        return review

    def on_review_consent_withdrawn(self, event: ReviewConsentWithdrawn, ctx: Context) -> CaseReview | None:
        review = self.load(CaseReview, event.case_id)
        if review is not None:
            review.suspend(f"{event.scope}_withdrawn", ctx)
        return review

    def on_case_cancelled(self, event: CaseCancelled, ctx: Context) -> CaseReview | None:
        review = self.load(CaseReview, event.case_id)
        if review is not None:
            review.stop("case_cancelled", ctx)
        return review

    reactions: ClassVar[dict[type[DomainEvent], Reaction]] = {
        CaseReadyForReview: on_case_ready,
        ReviewConsentWithdrawn: on_review_consent_withdrawn,
        CaseCancelled: on_case_cancelled,
    }
    #: Its leaders' events review does not act on: it starts from `case_ready_for_review`,
    #: which records sends once records, consents and (third party) the pack are in place.
    ignores: ClassVar[frozenset[type[DomainEvent]]] = frozenset({
        intake.PolicyTermsRecorded, intake.CaseOpened, intake.MemberIdentified,
        intake.EligibilityConfirmed, intake.EligibilityDeclined, intake.CaseConcluded,
        intake.IdentityRevealed, intake.MemberErased,
        records.CaseFileOpened, records.ConsentRequested, records.CaseFileClosed,
        records.ConsentGranted, records.ConsentWithdrawn, records.RecordsRequested, records.RecordReceived,
        records.RecordsUnobtainable, records.RecordsCompleted, records.CollectionSuspended,
        records.CollectionResumed, records.ReviewPackPrepared, records.ReviewPackRecalled,
    })
