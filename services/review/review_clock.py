"""Review's SLA clock: the due date of every running review, and the reviews waiting for
a reviewer, read from review's own notification log.

Kept up to date incrementally, as the referral book is: the log only grows, so each read
folds only what is new. Why: the worker's minute tick used to decode every clock event
ever stored to find the running reviews, a cost that grew with every case the service had
ever had (about five events a case) and held the worker, and the commands queued behind
it, for as long.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

import orjson

from events.envelope import CaseEvent, DomainEvent
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

#: Events that start a review's clock, and those that stop it (finished, stopped,
#: suspended, or already breached: a breach is flagged once).
STARTS = (ReviewStarted, ReviewResumed)
STOPS = (ReviewSuspended, ReviewStopped, ReviewSlaBreached, OpinionSubmitted)
#: A review waits for a reviewer from NoReviewerAvailable until one of these.
WAIT_ENDS = (ReviewerAssigned, ReviewStopped, OpinionSubmitted)
CLOCK_TYPES = sorted({e.type_name for e in (*STARTS, *STOPS, NoReviewerAvailable, *WAIT_ENDS)})


@dataclass
class ReviewClock:
    position: int = 0
    #: case id -> due date of each review whose clock runs.
    due: dict[UUID, date] = field(default_factory=dict)
    #: case id -> whether the review waits for a reviewer (True from NoReviewerAvailable
    #: until one of WAIT_ENDS); kept in the order cases first came, which is the order
    #: waiting reviews are offered a newly registered reviewer.
    waiting: dict[UUID, bool] = field(default_factory=dict)

    def fold(self, events: Iterable[DomainEvent]) -> None:
        for event in events:
            if not isinstance(event, CaseEvent):
                continue
            case = event.case_id
            if isinstance(event, STARTS):
                self.due[case] = event.due_on
            elif isinstance(event, STOPS):
                self.due.pop(case, None)
            if isinstance(event, (NoReviewerAvailable, *WAIT_ENDS)):
                self.waiting[case] = isinstance(event, NoReviewerAvailable)

    def dump(self) -> bytes:
        """The clock's state (not its position), for a snapshot (book_snapshots.py); the
        order of `waiting` is kept."""
        return orjson.dumps({"due": [[str(c), d.isoformat()] for c, d in self.due.items()],
                             "waiting": [[str(c), w] for c, w in self.waiting.items()]})

    @classmethod
    def load(cls, position: int, state: bytes) -> ReviewClock:
        data = orjson.loads(state)
        return cls(position, {UUID(c): date.fromisoformat(d) for c, d in data["due"]},
                   {UUID(c): bool(w) for c, w in data["waiting"]})

    def waiting_for_reviewer(self) -> list[UUID]:
        return [case for case, waits in self.waiting.items() if waits]

    def overdue(self, today: date) -> list[UUID]:
        """Running reviews whose due date has passed."""
        return [case for case, due in self.due.items() if today > due]
