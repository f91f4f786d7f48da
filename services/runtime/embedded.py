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
        #: Per pipe, the leader's head up to which this process has pulled. Never ahead of
        #: the follower's tracking position (only our own finished pulls raise it); behind
        #: it when another process pumped the same home, and then a pull finds nothing.
        self.seen: dict[tuple[str, str], int] = {}
        for leader, follower in self.pipes:
            services[follower].follow(leader, services[leader].notification_log)

    def pump(self) -> int:
        """Let every follower catch up; returns how many pipes moved.

        Each pass reads each leader's head (its highest notification id) once and pulls
        only where a follower's tracking position is behind it: after a command most pipes
        have nothing to move, and a read of two small indexes is all they cost."""
        applied = 0
        while True:
            moved = 0
            heads: dict[str, int] = {}
            for pipe in self.pipes:
                leader, follower = pipe
                if leader not in heads:
                    heads[leader] = self.services[leader].recorder.max_notification_id() or 0
                if self.seen.get(pipe, 0) >= heads[leader]:
                    continue
                app = self.services[follower]
                # Pulls from its own tracking position, up to the leader's end: past the head.
                retrying(lambda app=app, leader=leader: app.pull_and_process(leader))  # type: ignore[misc]
                self.seen[pipe] = heads[leader]
                moved += 1
            if not moved:
                return applied
            applied += moved
