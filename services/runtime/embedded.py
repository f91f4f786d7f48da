"""The embedded runtime: the four services in one process, each on its own store.

Followers read their leaders' notification logs directly (no broker). After every
command the runtime pumps: each follower pulls what its leaders recorded since its own
tracking position, until a full pass moves nothing. A process that dies mid-pump simply
pumps again on its next start; tracking makes every upstream event count exactly once.
"""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from services.common.context import Clock, Context, SystemClock
from services.intake.application import Intake
from services.records.application import Records
from services.reporting.application import Reporting
from services.review.application import ReviewService
from services.runtime.application import ServiceApplication
from services.runtime.stores import store_env

#: Who follows whom. Intake follows reporting only to learn that a report went out.
PIPES: tuple[tuple[str, str], ...] = (
    ("intake", "records"),
    ("intake", "review"),
    ("records", "review"),
    ("intake", "reporting"),
    ("records", "reporting"),
    ("review", "reporting"),
    ("reporting", "intake"),
)


class EmbeddedRuntime:
    def __init__(self, home: Path, clock: Clock | None = None):
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.clock = clock or SystemClock()
        keys = deployment_keys(home)
        self.intake = Intake(env=store_env(home, "intake"), clock=self.clock)
        self.intake.member_key = keys["member"]
        self.records = Records(env=store_env(home, "records"), clock=self.clock)
        self.records.pack_key = keys["pack"]
        self.review = ReviewService(env=store_env(home, "review"), clock=self.clock)
        self.reporting = Reporting(env=store_env(home, "reporting"), clock=self.clock)
        self.services: dict[str, ServiceApplication] = {
            "intake": self.intake, "records": self.records,
            "review": self.review, "reporting": self.reporting,
        }
        for leader, follower in PIPES:
            self.services[follower].follow(leader, self.services[leader].notification_log)

    def pump(self) -> int:
        """Let every follower catch up; returns how many upstream events were applied."""
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

    def flag_overdue_reviews(self) -> int:
        ctx = Context(actor="service:review", now=self.clock.now())
        flagged = self.review.flag_overdue_reviews(ctx.today, ctx)
        self.pump()
        return flagged

    def close(self) -> None:
        for app in self.services.values():
            app.close()


def deployment_keys(home: Path) -> dict[str, bytes]:
    """Per-deployment secrets for member references and case pseudonyms, made on first
    use and kept beside the stores (a real deployment would hold them in a KMS)."""
    path = home / "deployment.key"
    if not path.exists():
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    root = path.read_bytes()
    return {
        purpose: hashlib.sha256(root + purpose.encode()).digest() for purpose in ("member", "pack")
    }
