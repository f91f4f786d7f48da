"""The embedded pipeline: services in one process, each on its own store.

Followers read their leaders' notification logs directly (no broker). After every
command the pipeline pumps: each follower pulls what its leaders recorded since its own
tracking position, until a full pass moves nothing. A process that dies mid-pump simply
pumps again on its next command; tracking makes every upstream event count exactly once.
Several processes may pump one home at once: a follower that loses a race for the same
upstream position (IntegrityError) or the store's lock rolls back and pulls again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.runtime.application import ServiceApplication, retrying


class EmbeddedPipeline:
    def __init__(self, services: Mapping[str, ServiceApplication], pipes: Sequence[tuple[str, str]]):
        self.services = services
        self.pipes = tuple(pipes)
        for leader, follower in self.pipes:
            services[follower].follow(leader, services[leader].notification_log)

    def pump(self) -> int:
        """Let every follower catch up; returns how many pipes moved."""
        applied = 0
        while True:
            moved = 0
            for leader, follower in self.pipes:
                app = self.services[follower]
                before = app.recorder.max_tracking_id(leader) or 0
                retrying(lambda app=app, leader=leader: app.pull_and_process(leader))  # type: ignore[misc]
                moved += (app.recorder.max_tracking_id(leader) or 0) != before
            if not moved:
                return applied
            applied += moved
