"""The embedded runtime: the four services in one process, each on its own store.

Followers read their leaders' notification logs directly (no broker). After every
command the runtime pumps: each follower pulls what its leaders recorded since its own
tracking position, until a full pass moves nothing. A process that dies mid-pump simply
pumps again on its next start; tracking makes every upstream event count exactly once.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from services.common.context import Clock, Context, SystemClock
from services.intake.application import Intake
from services.records.application import Records
from services.reporting.application import Reporting
from services.review.application import ReviewService
from services.runtime.application import ServiceApplication
from services.runtime.deployment import PIPES, SERVICES, build_service


class Deployment:
    """The four services on their stores, as a command line or a test drives them."""

    #: Where `replay` reads a case's events: the stores themselves, or reporting's trail.
    replays_from_stores = True

    def __init__(self, home: Path, clock: Clock | None = None):
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.clock = clock or SystemClock()
        self.services: dict[str, ServiceApplication] = {
            name: build_service(name, home, self.clock) for name in SERVICES
        }
        self.intake = cast(Intake, self.services["intake"])
        self.records = cast(Records, self.services["records"])
        self.review = cast(ReviewService, self.services["review"])
        self.reporting = cast(Reporting, self.services["reporting"])

    def pump(self) -> int:
        raise NotImplementedError

    def flag_overdue_reviews(self) -> int:
        ctx = Context(actor="service:review", now=self.clock.now())
        flagged = self.review.flag_overdue_reviews(ctx.today, ctx)
        self.pump()
        return flagged

    def close(self) -> None:
        for app in self.services.values():
            app.close()


class EmbeddedRuntime(Deployment):
    def __init__(self, home: Path, clock: Clock | None = None):
        super().__init__(home, clock)
        for leader, follower in PIPES:
            self.services[follower].follow(leader, self.services[leader].notification_log)

    def pump(self) -> int:
        """Let every follower catch up; returns how many pipes moved."""
        applied = 0
        while True:
            moved = 0
            for leader, follower in PIPES:
                app = self.services[follower]
                before = app.recorder.max_tracking_id(leader) or 0
                app.pull_and_process(leader)
                moved += (app.recorder.max_tracking_id(leader) or 0) != before
            if not moved:
                return applied
            applied += moved
