"""`cases worker NAME`: one service as its own OS process on Kafka.

The loop: publish what the service stored (outbox relay), apply what its leaders
published (consumer), and run the service's timer (`on_timer`: review's SLA clock). SIGTERM or SIGINT stop it
between two steps; SIGKILL at any moment loses nothing (see outbox.py, consumer.py).

Any number of instances of a service may run: they share its consumer group, so the broker
shares the partitions among them (consumer.py), and whichever holds the service's lease
(lease.py) is the one that relays its outbox and runs its timer. A broker that stops
answering never ends a worker: the failed step is logged (no data) and tried again after a
pause that doubles up to MAX_BACKOFF, and what it had pending is published or applied once
the broker is back.

With a metrics port, the worker serves Prometheus metrics (services/runtime/metrics.py):
counters move as messages are handled; the gauges that cost a query (consumer lag, relay
backlog, reporting's case counts) are refreshed at most every GAUGE_SECONDS.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from typing import Any, Protocol

from confluent_kafka import KafkaException
from kafka.errors import KafkaError

from services.runtime.application import ServiceApplication, retrying
from services.runtime.kafka.config import SERVICE_PRINCIPALS, KafkaSettings
from services.runtime.kafka.consumer import ServiceConsumer
from services.runtime.kafka.lease import ServiceLease
from services.runtime.kafka.outbox import OutboxRelay, make_producer
from services.runtime.kafka.topics import ensure_topics
from services.runtime.metrics import WorkerMetrics

log = logging.getLogger("cases.worker")
#: An idle worker's round: the consumer waits up to POLL_MS for messages (one that comes
#: ends the wait), then the loop pauses up to IDLE_PAUSE, a pause a command's arrival ends
#: (Companion.arrived). So a command waits at most POLL_MS to start, a message at most
#: IDLE_PAUSE, and an idle worker makes about 50 rounds a second.
POLL_MS = 10
IDLE_PAUSE = 0.01
GAUGE_SECONDS = 5.0
WATCH_SECONDS = 5.0  # how often the consumer is checked for a stall (ServiceConsumer.stalled)
MAX_BACKOFF = 30.0
READY_ANYWAY = 20.0  # an instance given no partition (more instances than partitions) is still up
BROKER_ERRORS = (KafkaError, KafkaException)


def doubled(pause: float, least: float) -> float:
    """The next pause after another failure: twice the last, at least `least`, at most MAX_BACKOFF."""
    return min(MAX_BACKOFF, max(least, pause * 2))


class Companion(Protocol):
    """A loop that runs inside a service's worker, beside its relay and consumer (records'
    partner gateway: packs out to partner topics, opinions in). `poll_once` does one bounded
    step and returns how much it moved; it must not block for long."""

    #: Set when work has arrived that is not on a topic (a command), so that an idle worker
    #: wakes for it at once; None for a companion whose work comes only by polling.
    arrived: threading.Event | None

    def poll_once(self) -> int: ...

    def close(self) -> None: ...


class Worker:
    def __init__(self, app: ServiceApplication, leaders: list[str], settings: KafkaSettings,
                 timer_seconds: float = 60, instance: int = 0, instances: int = 1,
                 metrics_port: int = 0, companions: list[Companion] | None = None):
        # `instance` and `instances` are accepted and ignored: the group shares the partitions.
        ensure_topics(settings, SERVICE_PRINCIPALS[app.name])  # on a secured broker: provisioned
        self.app = app
        self.settings = settings
        self.metrics = WorkerMetrics(app.name, app.register_metrics)
        self.metrics_port = self.metrics.serve(metrics_port)  # before Kafka: a busy port fails fast
        self.producer = make_producer(settings, SERVICE_PRINCIPALS[app.name])
        self.relay = OutboxRelay(self.app, self.producer)
        self.leaders = list(leaders)
        self.consumer = self.new_consumer()
        self.lease = ServiceLease(app)
        self.timer_seconds = timer_seconds
        self.next_timer = 0.0
        self.next_gauges = 0.0
        self.next_watch = time.monotonic() + WATCH_SECONDS
        self.watch_backoff = WATCH_SECONDS
        self.next_publish = 0.0
        self.relay_backoff = 0.0
        self.companions = list(companions or [])
        #: What ends an idle pause: the command endpoint's arrivals (a worker has one).
        self.arrived = next((c.arrived for c in self.companions if c.arrived is not None), None)
        self.running = True

    def step(self) -> int:
        """One round. Each part may wait on the broker (boundedly), so the service's
        commands are run between the parts: a command waits behind one of them at most,
        never behind a whole round of a broker that is away."""
        leading = self.lease.held()  # this instance relays the outbox and runs the timer
        published = self.publish() if leading else 0
        moved = self.serve()
        moved += self.consumer.poll_once(timeout_ms=POLL_MS) + self.serve()
        if leading:
            published += self.publish()
        self.metrics.events_published(published)
        for companion in self.companions:
            moved += companion.poll_once()  # the command endpoint among them
        if leading and self.timer_seconds and time.monotonic() >= self.next_timer:
            self.next_timer = time.monotonic() + self.timer_seconds
            retrying(lambda: self.app.on_timer(self.app.clock.now()))
        if time.monotonic() >= self.next_watch:
            self.next_watch = time.monotonic() + self.watch_consumer()
        if self.metrics_port and time.monotonic() >= self.next_gauges:
            self.next_gauges = time.monotonic() + GAUGE_SECONDS
            self.refresh_gauges(leading)
        return published + moved

    def serve(self) -> int:
        """Run the commands that have arrived (the companions that take commands)."""
        return sum(c.poll_once() for c in self.companions if c.arrived is not None)

    def publish(self) -> int:
        """One relay batch. If the broker did not acknowledge it, the producer is replaced
        (a fresh one has no half-sent batch left to retry) and the relay pauses: the batch
        goes again from the stored position, and consumers drop what arrives twice."""
        if time.monotonic() < self.next_publish:
            return 0
        try:
            published = self.relay.publish_pending()
        except BROKER_ERRORS as error:
            self.relay_backoff = doubled(self.relay_backoff, 1.0)
            self.next_publish = time.monotonic() + self.relay_backoff
            log.warning("worker %s: the broker did not take the outbox (%s); trying again in %.0f s",
                        self.app.name, type(error).__name__, self.relay_backoff)
            self.replace_producer()
            return 0
        self.relay_backoff = 0.0
        return published

    def new_consumer(self) -> ServiceConsumer:
        return ServiceConsumer(self.app, self.leaders, self.settings, self.producer, metrics=self.metrics)

    def watch_consumer(self) -> float:
        """Replace a consumer that holds partitions with messages waiting and has not moved
        them for its stall time: the new one joins the group afresh and resumes each
        partition from the store's position, so nothing is skipped or applied twice.
        Returns the seconds until the next look: longer while the broker does not answer,
        since each look then waits out a timeout (LAG_TIMEOUT) in the worker's round."""
        try:
            stalled = self.consumer.stalled()
        except BROKER_ERRORS as error:  # the broker is away: that is not a stall
            self.watch_backoff = doubled(self.watch_backoff, WATCH_SECONDS)
            log.info("consumer not checked (%s); next look in %.0f s", type(error).__name__, self.watch_backoff)
            return self.watch_backoff
        self.watch_backoff = WATCH_SECONDS
        if stalled:
            log.warning("worker %s: no progress on %s for %.0f s with messages waiting; joining the group afresh",
                        self.app.name, ", ".join(stalled), self.consumer.stall_seconds)
            self.metrics.consumer_replaced()
            try:
                self.consumer.close()
            except BROKER_ERRORS as error:  # it is dropped either way
                log.info("stalled consumer not closed cleanly: %s", type(error).__name__)
            self.consumer = self.new_consumer()
        return WATCH_SECONDS

    def replace_producer(self) -> None:
        old = self.producer
        self.producer = make_producer(self.settings, SERVICE_PRINCIPALS[self.app.name])
        self.relay.producer = self.consumer.producer = self.producer
        try:
            old.close(timeout=0)
        except Exception as error:  # noqa: BLE001 - the old producer is dropped either way
            log.info("old producer not closed cleanly: %s", type(error).__name__)

    def refresh_gauges(self, leading: bool) -> None:
        """The gauges that cost a query; a failure skips this round, never the worker. The
        lag waits for the broker's answers (LAG_TIMEOUT each): while it does not answer,
        it is asked only every MAX_BACKOFF seconds, not in every fifth second's round."""
        try:
            self.metrics.consumer_lag(self.consumer.lag())
        except BROKER_ERRORS as error:
            log.info("consumer lag not measured: %s", type(error).__name__)
            self.next_gauges = time.monotonic() + MAX_BACKOFF
        if leading:
            self.metrics.relay_backlog(self.relay.backlog())
        self.app.refresh_metrics()

    def run(self) -> None:
        def stop(*_: Any) -> None:
            self.running = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("worker %s started", self.app.name)
        started = time.monotonic()
        announced = False
        backoff = 0.0
        while self.running:
            try:
                moved = self.step()
                backoff = 0.0
            except BROKER_ERRORS as error:
                backoff = doubled(backoff, 0.5)
                log.warning("worker %s: the broker is not answering (%s); trying again in %.1f s",
                            self.app.name, type(error).__name__, backoff)
                self.pause(backoff)
                continue
            if not announced and (self.consumer.assignments or time.monotonic() - started > READY_ANYWAY):
                log.info("worker %s ready: %s", self.app.name,
                         [f"{topic}[{partition}]" for topic, partition in self.consumer.assignment()])
                announced = True
            if not moved:
                self.idle()
        self.close()

    def idle(self) -> None:
        if self.arrived is None:
            time.sleep(IDLE_PAUSE)
            return
        self.arrived.wait(IDLE_PAUSE)
        self.arrived.clear()  # what arrived is in its queue: the next round runs it

    def pause(self, seconds: float) -> None:
        """Wait out a broker that does not answer, still serving the service's commands:
        they only write its own store, and the relay publishes them once the broker is back."""
        deadline = time.monotonic() + seconds
        while self.running and time.monotonic() < deadline:
            moved = 0
            for companion in self.companions:
                # A companion that needs the broker waits for it like the rest.
                with contextlib.suppress(*BROKER_ERRORS):
                    moved += companion.poll_once()
            if not moved:
                time.sleep(0.1)

    def close(self) -> None:
        for companion in self.companions:
            companion.close()
        self.metrics.close()
        self.consumer.close()
        self.lease.release()
        self.producer.close()
        self.app.close()
