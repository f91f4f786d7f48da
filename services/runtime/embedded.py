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

from services.runtime import attached
from services.runtime.application import ServiceApplication, retrying


class EmbeddedPipeline:
    def __init__(self, services: Mapping[str, ServiceApplication], pipes: Sequence[tuple[str, str]]):
        self.services = services
        self.pipes = tuple(pipes)
        #: Per pipe, the leader's head up to which this process has pulled and processed
        #: everything the follower reads (only our own finished pulls raise it): the next
        #: pull starts there. Behind the follower's position when another process pumped
        #: the same home; then process_events skips what it finds done.
        self.seen: dict[tuple[str, str], int] = {}
        for leader, follower in self.pipes:
            services[follower].follow(leader, services[leader].notification_log)

    def pump(self) -> int:
        """Let every follower catch up; returns how many pulls it made.

        The first pass reads each leader's head (its highest notification id) once and
        pulls only where a follower's tracking position is behind it: after a command most
        pipes have nothing to move, and a read of two small indexes is all they cost (it
        also delivers what a process that died before its own pump left behind). A later
        pass re-reads only the heads of the followers that recorded events in the pass
        before: no other leader has changed since, unless another process wrote, and that
        process's own pump delivers its writes."""
        pulls = 0
        heads: dict[str, int] = {}
        stale = {leader for leader, _ in self.pipes}
        while stale:
            heads.update(self.heads(stale))
            recorded: set[str] = set()
            for pipe in self.pipes:
                leader, follower = pipe
                if self.seen.get(pipe, 0) >= heads[leader]:
                    continue
                app = self.services[follower]
                before = app.recorded
                # From where this process's last pull of the pipe ended (all it found was
                # processed), else from the follower's tracking position; to the leader's
                # end. Whatever another process applied meanwhile, process_events skips.
                start = self.seen.get(pipe)
                retrying(lambda app=app, leader=leader, start=start:  # type: ignore[misc]
                         app.pull_and_process(leader, start))
                self.seen[pipe] = heads[leader]
                pulls += 1
                if app.recorded > before:
                    recorded.add(follower)
            stale = recorded
        return pulls

    def heads(self, leaders: set[str]) -> dict[str, int]:
        """The leaders' heads: every store's in one statement where they are plain SQLite
        files and more than one is wanted (attached.heads), else one read each."""
        if len(leaders) > 1:
            found = attached.heads(self.services)
            if found is not None:
                return found
        return {leader: self.services[leader].recorder.max_notification_id() or 0 for leader in leaders}
