"""Review: routing by delivery model, the reviewer directory, the SLA clock, opinions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import ClassVar
from uuid import UUID

from eventsourcing.application import ProcessingEvent

from events.envelope import DomainEvent
from events.intake import CaseCancelled
from events.records import CaseReadyForReview, ConsentWithdrawn
from events.review import (
    OpinionSubmitted,
    ReviewResumed,
    ReviewSlaBreached,
    ReviewStarted,
    ReviewStopped,
    ReviewSuspended,
)
from services.common.context import Context
from services.common.errors import Refused
from services.review.domain.review import Review
from services.review.domain.reviewers import DIRECTORY_ID, Reviewer, ReviewerDirectory
from services.runtime.application import ServiceApplication

_CLOCK_EVENTS = [
    e.type_name
    for e in (ReviewStarted, ReviewResumed, ReviewSuspended, ReviewStopped, ReviewSlaBreached, OpinionSubmitted)
]


class ReviewService(ServiceApplication):
    name = "review"
    reactions: ClassVar[dict[type[DomainEvent], str]] = {
        CaseReadyForReview: "on_case_ready",
        ConsentWithdrawn: "on_consent_withdrawn",
        CaseCancelled: "on_case_cancelled",
    }

    # -- directory ------------------------------------------------------------------------

    def register_reviewers(self, reviewers: Iterable[Reviewer], ctx: Context) -> int:
        directory = self.directory()
        for reviewer in reviewers:
            directory.register(reviewer, ctx)
        changed = len(directory._pending)
        self.save(directory)
        return changed

    def directory(self) -> ReviewerDirectory:
        return self.load(ReviewerDirectory, DIRECTORY_ID) or ReviewerDirectory()

    # -- commands -------------------------------------------------------------------------

    def submit_opinion(self, case_id: UUID, outcome: str, summary: str, reviewer: str, ctx: Context) -> None:
        self._change(case_id, lambda r: r.submit_opinion(outcome, summary, reviewer, ctx))

    def decline(self, case_id: UUID, reason: str, ctx: Context) -> None:
        directory = self.directory()
        self._change(case_id, lambda r: r.decline(reason, directory, ctx))

    def declare_conflict(self, case_id: UUID, nature: str, ctx: Context) -> None:
        directory = self.directory()
        self._change(case_id, lambda r: r.declare_conflict(nature, directory, ctx))

    def attend_appointment(self, case_id: UUID, ctx: Context) -> None:
        self._change(case_id, lambda r: r.attend_appointment(ctx))

    def _change(self, case_id: UUID, command: Callable[[Review], None]) -> None:
        review = self.load(Review, case_id)
        if review is None:
            raise Refused("not_in_review", "the case is not in review")
        command(review)
        self.save(review)

    def flag_overdue_reviews(self, today: date, ctx: Context) -> int:
        """Record a breach on every running review whose due date has passed."""
        overdue = [case_id for case_id, due in self.running_reviews().items() if today > due]
        flagged = []
        for case_id in overdue:
            review = self.load(Review, case_id)
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
            else:
                due.pop(event.case_id, None)
        return due

    # -- reactions ------------------------------------------------------------------------

    def on_case_ready(self, event: CaseReadyForReview, processing: ProcessingEvent[UUID], ctx: Context) -> None:
        review = self.load(Review, event.case_id)
        if review is None:
            review = Review.start(event, self.directory(), ctx)
        else:
            review.resume(event, self.directory(), ctx)
        processing.collect_events(review)

    def on_consent_withdrawn(self, event: ConsentWithdrawn, processing: ProcessingEvent[UUID], ctx: Context) -> None:
        review = self.load(Review, event.case_id)
        if review is None:
            return
        if event.scope == "records_access" or (
            event.scope == "third_party_disclosure" and review.model == "third_party"
        ):
            review.suspend(f"{event.scope}_withdrawn", ctx)
            processing.collect_events(review)

    def on_case_cancelled(self, event: CaseCancelled, processing: ProcessingEvent[UUID], ctx: Context) -> None:
        review = self.load(Review, event.case_id)
        if review is not None:
            review.stop("case_cancelled", ctx)
            processing.collect_events(review)
