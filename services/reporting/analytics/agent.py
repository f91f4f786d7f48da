"""Reporting's analytics worker: a faust agent turning the case topics into de-identified
case facts on cases.analytics.v1 (`cases worker analytics`).

Why faust here: this is a long-running stream agent, not a request-response step. It reads
all four case topics as one stream, batches with `stream.take(500, within=1.0)` so that a
burst of events for one case is folded once rather than once per event, and gets consumer
groups, co-partitioned assignment (every topic is keyed by case id) and clean SIGTERM
handling from the faust worker. The services' own workers stay on kafka-python because
they need exactly-once effect through tracking records; this agent records nothing.

Why at-least-once is enough: a fact is the latest view of one case, not an increment. A
consumer keeps one fact per `analytics_ref` (a compacted view, a table upsert), so a fact
published twice, or republished after a restart, changes nothing for it. Facts are
published only when a case's fact changed, and a batch's offsets are acknowledged only
after its facts were delivered.

State is in memory only (each case's events, for the fold). So that a restart never folds
a case from half its history, every start forgets the group's committed offsets and reads
the case topics (kept forever) from the beginning, republishing each case's facts. While
that catch-up runs, a case's fact may be republished from part of its history before its
latest one; a consumer that keeps the fact with the greatest `as_of` per `analytics_ref`
never steps back, one that keeps the last arrival is right again once the agent caught up.
One instance runs at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

import faust
from kafka import KafkaAdminClient

from events.analytics import AnalyticsCaseFact, AnalyticsWeek
from events.codec import decode
from events.envelope import DomainEvent
from events.topics import ANALYTICS_TOPIC, ANALYTICS_WEEKLY_TOPIC, SERVICES, case_topic
from services.reporting.analytics.facts import FactBook
from services.reporting.analytics.weekly import week_messages, weekly_aggregates
from services.runtime.kafka.config import SERVICE_PRINCIPALS, KafkaSettings
from services.runtime.kafka.topics import ensure_topics

log = logging.getLogger("cases.analytics")

APP_ID = "cases-analytics"
PRINCIPAL = SERVICE_PRINCIPALS["analytics"]  # its ACLs: services/runtime/kafka/access.py
BATCH_SIZE = 500
BATCH_WITHIN = 1.0  # seconds
#: Short, so that after a crash the group empties soon and the next start can rewind it.
SESSION_TIMEOUT = 10.0
FACT_HEADERS = [("type", b"analytics_case_fact"), ("schema_version", b"1")]
WEEK_HEADERS = [("type", b"analytics_week"), ("schema_version", b"1")]


def decoded(values: Iterable[bytes | None]) -> Iterator[DomainEvent]:
    """The events among the raw values; anything undecodable is logged and skipped."""
    for value in values:
        if not value:
            continue
        try:
            yield decode(value)
        except Exception as error:  # noqa: BLE001 - bad JSON, unknown type, invalid: go on
            # Never the bytes themselves: a case message may hold a member's identity.
            log.warning("skipped an undecodable message of %d bytes (%s)", len(value),
                        type(error).__name__)


def fact_message(fact: AnalyticsCaseFact) -> tuple[bytes, bytes]:
    return fact.analytics_ref.encode(), fact.model_dump_json().encode()


def credentials(settings: KafkaSettings) -> faust.SASLCredentials | None:
    """SASL/SCRAM as svc-analytics on a secured broker, else none."""
    found = settings.credentials(PRINCIPAL)
    if found is None:
        return None
    return faust.SASLCredentials(username=found[0], password=found[1], mechanism="SCRAM-SHA-512")


def make_app(settings: KafkaSettings, key: bytes) -> faust.App:
    app = faust.App(
        APP_ID,
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers],
        broker_credentials=credentials(settings),
        store="memory://",
        web_enabled=False,
        topic_disable_leader=True,
        topic_allow_declare=False,  # topics are made by ensure_topics, with their retention
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=SESSION_TIMEOUT,
        key_serializer="raw",
        value_serializer="raw",
    )
    case_topics = app.topic(*(case_topic(s) for s in SERVICES),
                            key_type=bytes, value_type=bytes,
                            key_serializer="raw", value_serializer="raw")
    facts_topic = app.topic(ANALYTICS_TOPIC, key_type=bytes, value_type=bytes,
                            key_serializer="raw", value_serializer="raw")
    weekly_topic = app.topic(ANALYTICS_WEEKLY_TOPIC, key_type=bytes, value_type=bytes,
                             key_serializer="raw", value_serializer="raw")
    book = FactBook(key)
    weeks: dict[str, AnalyticsWeek] = {}

    @app.agent(case_topics, name="case-facts")
    async def publish_case_facts(stream: faust.StreamT[bytes]) -> None:
        async for values in stream.take(BATCH_SIZE, within=BATCH_WITHIN):
            deliveries = []
            changed = book.add(decoded(values))
            for fact in changed:
                ref, body = fact_message(fact)
                deliveries.append(await facts_topic.send(key=ref, value=body, headers=FACT_HEADERS))
            # The weekly aggregates are kept from the latest facts; a week's new counts go
            # out when they changed (the topic is compacted: the latest counts per week stay).
            touched = {fact.week for fact in changed}
            for week in week_messages(weekly_aggregates(
                    f for f in book.latest() if f.week in touched)):
                if weeks.get(week.week) != week:
                    weeks[week.week] = week
                    deliveries.append(await weekly_topic.send(
                        key=week.week.encode(), value=week.model_dump_json().encode(),
                        headers=WEEK_HEADERS))
            # Wait for the broker's acks: take() acknowledges the batch's offsets after this.
            await asyncio.gather(*deliveries)
            if deliveries:
                log.info("published %d case facts", len(deliveries))

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def announce(sender: Any, assigned: Any, **_: Any) -> None:
        if assigned:
            log.info("analytics agent ready: %s",
                     sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))

    return app


def forget_committed_offsets(settings: KafkaSettings, timeout: float = SESSION_TIMEOUT * 3) -> None:
    """Delete the agent's consumer group, so it starts again from the topics' beginning.
    A group left by a killed agent is not empty until its session times out: wait it out."""
    admin = KafkaAdminClient(**settings.client_config(PRINCIPAL), client_id=f"{APP_ID}-admin")
    deadline = time.monotonic() + timeout
    try:
        while True:
            result = admin.delete_groups([APP_ID]).get(APP_ID, "OK")
            if result in ("OK", "GroupIdNotFoundError"):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"cannot rewind consumer group {APP_ID}: {result} "
                                   "(is another analytics agent running?)")
            time.sleep(1.0)
    finally:
        admin.close()


def run_analytics_worker(settings: KafkaSettings, key: bytes, loglevel: str = "warn") -> None:
    """Run the analytics agent until SIGTERM or SIGINT."""
    ensure_topics(settings, PRINCIPAL)  # faust does not create them here; secured: provisioned
    forget_committed_offsets(settings)
    app = make_app(settings, key)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as done:
        if done.code not in (0, None):
            raise
