"""Prometheus metrics of one worker (`cases worker NAME --metrics-port N`).

Each worker keeps its metrics in its own `CollectorRegistry` (never the process-wide
default one), so a test can make several side by side, and serves them over HTTP when
given a port. Every label has a small, fixed set of values: the service name, an event
type from the published registry, a dead-letter reason bucket, a topic and partition
number, a case status. Never a case id, member reference, event id or any free text:
identifiers belong in the logs and the audit trail, not in a time series.

    name                                 type       labels
    cases_events_processed_total         counter    service, type
    cases_events_redelivered_total       counter    service
    cases_events_published_total         counter    service
    cases_dead_letters_total             counter    service, reason
    cases_processing_seconds             histogram  service
    cases_consumer_lag                   gauge      service, topic, partition
    cases_relay_backlog                  gauge      service

A service adds its own series through `register` (its application's `register_metrics`):
review counts the breaches its clock flags, reporting gauges open cases by status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from events.registry import REGISTRY

log = logging.getLogger("cases.metrics")

#: Dead-letter reasons, reduced from the consumer's free-text reason (which may quote an
#: exception message, hence data) to this fixed set.
DEAD_LETTER_REASONS = ("missing_header", "undecodable", "reaction_failed", "other")

#: Seconds per message applied: a reaction is one store transaction, usually milliseconds;
#: the top buckets catch a slow database or a lock wait.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def dead_letter_reason(reason: str) -> str:
    """The bucket of a consumer's dead-letter reason text."""
    text = reason.lower()
    if text.startswith("undecodable"):
        return "undecodable"
    if text.startswith("reaction failed"):
        return "reaction_failed"
    if "header" in text:
        return "missing_header"
    return "other"


def event_type_label(event: Any) -> str:
    """The event's wire type name if the published registry knows it, else "other"."""
    name = getattr(event, "type_name", "")
    return name if name in REGISTRY else "other"


class WorkerMetrics:
    """The metrics of one service's worker, on a registry of its own."""

    def __init__(self, service: str, register: Callable[[CollectorRegistry], None] | None = None,
                 registry: CollectorRegistry | None = None):
        self.service = service
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.processed = Counter(
            "cases_events_processed", "Upstream events applied by this service's reactions",
            ["service", "type"], registry=r)
        self.redelivered = Counter(
            "cases_events_redelivered", "Upstream events seen before (tracking hit), changing nothing",
            ["service"], registry=r)
        self.published = Counter(
            "cases_events_published", "Events the outbox relay published to this service's topic",
            ["service"], registry=r)
        self.dead_letters = Counter(
            "cases_dead_letters", "Messages parked on the dead-letter topic, by reason",
            ["service", "reason"], registry=r)
        self.latency = Histogram(
            "cases_processing_seconds", "Time to apply one upstream event (reaction and tracking)",
            ["service"], buckets=LATENCY_BUCKETS, registry=r)
        self.lag = Gauge(
            "cases_consumer_lag",
            "Messages on a partition of the service's consumer group not yet consumed (every"
            " partition, whichever instance holds it, or none)",
            ["service", "topic", "partition"], registry=r)
        self.replaced = Counter(
            "cases_consumer_replacements",
            "Times the worker replaced its consumer, stalled with messages waiting (ServiceConsumer.stalled)",
            ["service"], registry=r)
        self.backlog = Gauge(
            "cases_relay_backlog", "Stored events the outbox relay has not yet published",
            ["service"], registry=r)
        # Series that exist from the start, so a rate() or a panel shows 0 rather than nothing.
        self.redelivered.labels(service)
        self.published.labels(service)
        for reason in DEAD_LETTER_REASONS:
            self.dead_letters.labels(service, reason)
        self.latency.labels(service)
        self.backlog.labels(service)
        self.replaced.labels(service)
        if register is not None:
            register(r)
        self._server: Any = None

    # -- the consumer -----------------------------------------------------------------------

    def event_processed(self, event: Any, seconds: float) -> None:
        self.processed.labels(self.service, event_type_label(event)).inc()
        self.latency.labels(self.service).observe(seconds)

    def event_redelivered(self, seconds: float) -> None:
        self.redelivered.labels(self.service).inc()
        self.latency.labels(self.service).observe(seconds)

    def dead_lettered(self, reason: str) -> None:
        self.dead_letters.labels(self.service, dead_letter_reason(reason)).inc()

    # -- the worker -------------------------------------------------------------------------

    def events_published(self, count: int) -> None:
        if count:
            self.published.labels(self.service).inc(count)

    def relay_backlog(self, backlog: int) -> None:
        self.backlog.labels(self.service).set(backlog)

    def consumer_replaced(self) -> None:
        self.replaced.labels(self.service).inc()

    def consumer_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        """The lag of each partition the worker reports now (the Kafka worker reports every
        partition of its group: a dead instance's too). A partition no longer reported is
        dropped, not left at its last value: a frozen lag would read as a stalled partition."""
        current = {(topic, str(partition)) for topic, partition in lags}
        for topic, partition in getattr(self, "_lag_series", set()) - current:
            self.lag.remove(self.service, topic, partition)
        self._lag_series = current
        for (topic, partition), lag in lags.items():
            self.lag.labels(self.service, topic, str(partition)).set(lag)

    # -- the exporter -----------------------------------------------------------------------

    def serve(self, port: int, addr: str = "0.0.0.0") -> int:
        """Serve /metrics on `port` (0: don't serve); returns the port, 0 when not serving."""
        if not port:
            return 0
        self._server, _ = start_http_server(port, addr=addr, registry=self.registry)
        bound = int(self._server.server_address[1])
        log.info("worker %s metrics on http://%s:%s/metrics", self.service, addr, bound)
        return bound

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
