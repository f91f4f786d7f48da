"""`cases worker NAME`: one service as its own OS process on Kafka.

The loop: publish what the service stored (outbox relay), apply what its leaders
published (consumer), and for review, tick the SLA clock. SIGTERM or SIGINT stop it
between two steps; SIGKILL at any moment loses nothing (see outbox.py, consumer.py).
"""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from typing import Any

from services.common.context import Context, SystemClock
from services.runtime.deployment import build_service, leaders_of
from services.runtime.kafka.config import KafkaSettings
from services.runtime.kafka.consumer import ServiceConsumer
from services.runtime.kafka.outbox import OutboxRelay, make_producer
from services.runtime.kafka.topics import ensure_topics

log = logging.getLogger("cases.worker")
IDLE_PAUSE = 0.02


class Worker:
    def __init__(self, name: str, home: Path, settings: KafkaSettings, sla_check_seconds: float = 60,
                 instance: int = 0, instances: int = 1):
        ensure_topics(settings)
        self.app = build_service(name, home, SystemClock())
        self.producer = make_producer(settings.bootstrap)
        self.relay = OutboxRelay(self.app, self.producer)
        self.consumer = ServiceConsumer(self.app, leaders_of(name), settings.bootstrap, self.producer,
                                        instance, instances)
        # One relay and one SLA clock per service: instance 0 runs them.
        self.relays = instance == 0
        self.sla_check_seconds = sla_check_seconds if name == "review" and instance == 0 else 0
        self.next_sla_check = 0.0
        self.running = True

    def step(self) -> int:
        moved = self.relay.publish_pending() if self.relays else 0
        moved += self.consumer.poll_once(timeout_ms=10 if moved else 50)
        if self.relays:
            moved += self.relay.publish_pending()
        if self.sla_check_seconds and time.monotonic() >= self.next_sla_check:
            self.next_sla_check = time.monotonic() + self.sla_check_seconds
            ctx = Context(actor="service:review", now=self.app.clock.now())
            self.app.flag_overdue_reviews(ctx.today, ctx)  # type: ignore[attr-defined]
        return moved

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
        self.consumer.close()
        self.producer.close()
        self.app.close()
