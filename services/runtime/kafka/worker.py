"""`cases worker NAME`: one service as its own OS process on Kafka.

The loop: publish what the service stored (outbox relay), apply what its leaders
published (consumer), and run the service's timer (`on_timer`: review's SLA clock). SIGTERM or SIGINT stop it
between two steps; SIGKILL at any moment loses nothing (see outbox.py, consumer.py).

With a metrics port, the worker serves Prometheus metrics (services/runtime/metrics.py):
counters move as messages are handled; the gauges that cost a query (consumer lag, relay
backlog, reporting's case counts) are refreshed at most every GAUGE_SECONDS.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any, Protocol

from kafka.errors import KafkaError

from services.runtime.application import ServiceApplication, retrying
from services.runtime.kafka.config import SERVICE_PRINCIPALS, KafkaSettings
from services.runtime.kafka.consumer import ServiceConsumer
from services.runtime.kafka.outbox import OutboxRelay, make_producer
from services.runtime.kafka.topics import ensure_topics
from services.runtime.metrics import WorkerMetrics

log = logging.getLogger("cases.worker")
IDLE_PAUSE = 0.02
GAUGE_SECONDS = 5.0


class Companion(Protocol):
    """A loop that runs inside a service's worker, beside its relay and consumer (records'
    partner gateway: packs out to partner topics, opinions in). `poll_once` does one bounded
    step and returns how much it moved; it must not block for long."""

    def poll_once(self) -> int: ...

    def close(self) -> None: ...


class Worker:
    def __init__(self, app: ServiceApplication, leaders: list[str], settings: KafkaSettings,
                 timer_seconds: float = 60, instance: int = 0, instances: int = 1,
                 metrics_port: int = 0, companions: list[Companion] | None = None):
        ensure_topics(settings, SERVICE_PRINCIPALS[app.name])  # on a secured broker: provisioned
        self.app = app
        self.metrics = WorkerMetrics(app.name, app.register_metrics)
        self.metrics_port = self.metrics.serve(metrics_port)  # before Kafka: a busy port fails fast
        self.producer = make_producer(settings, SERVICE_PRINCIPALS[app.name])
        self.relay = OutboxRelay(self.app, self.producer)
        self.consumer = ServiceConsumer(self.app, leaders, settings, self.producer,
                                        instance, instances, self.metrics)
        # One relay and one timer per service: instance 0 runs them.
        self.relays = instance == 0
        self.timer_seconds = timer_seconds if instance == 0 else 0
        self.next_timer = 0.0
        self.next_gauges = 0.0
        self.companions = list(companions or [])
        self.running = True

    def step(self) -> int:
        published = self.relay.publish_pending() if self.relays else 0
        consumed = self.consumer.poll_once(timeout_ms=10 if published else 50)
        if self.relays:
            published += self.relay.publish_pending()
        self.metrics.events_published(published)
        for companion in self.companions:
            consumed += companion.poll_once()
        if self.timer_seconds and time.monotonic() >= self.next_timer:
            self.next_timer = time.monotonic() + self.timer_seconds
            retrying(lambda: self.app.on_timer(self.app.clock.now()))
        if self.metrics_port and time.monotonic() >= self.next_gauges:
            self.next_gauges = time.monotonic() + GAUGE_SECONDS
            self.refresh_gauges()
        return published + consumed

    def refresh_gauges(self) -> None:
        """The gauges that cost a query; a failure skips this round, never the worker."""
        try:
            self.metrics.consumer_lag(self.consumer.lag())
        except KafkaError as error:
            log.info("consumer lag not measured: %s", type(error).__name__)
        if self.relays:
            self.metrics.relay_backlog(self.relay.backlog())
        self.app.refresh_metrics()

    def run(self) -> None:
        def stop(*_: Any) -> None:
            self.running = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("worker %s started", self.app.name)
        announced = False
        while self.running:
            moved = self.step()
            if not announced and self.consumer.consumer.assignment():
                log.info("worker %s ready: %s", self.app.name, sorted(
                    f"{tp.topic}[{tp.partition}]" for tp in self.consumer.consumer.assignment()))
                announced = True
            if not moved:
                time.sleep(IDLE_PAUSE)  # kafka-python's poll can return at once when idle
        self.close()

    def close(self) -> None:
        for companion in self.companions:
            companion.close()
        self.metrics.close()
        self.consumer.close()
        self.producer.close()
        self.app.close()
