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

Its state resumes. Each case's events and latest published fact are kept in a faust table
(`case-facts`, in memory) whose every change goes to the compacted changelog topic
`cases-analytics-case-facts-changelog`, and the agent commits its source offsets through
its consumer group. A restart restores the table from the changelog, then reads the case
topics on from the group's committed offsets: no case is folded from half its history and
no case topic is reread from offset 0 ("analytics agent resumed: N cases restored" in its
log). A batch's facts and weekly aggregates are delivered first, its table changes next,
and only then are its offsets acknowledged: a crash at any point leaves a state from which
the redelivered events give the same facts (an event already in the table is skipped by
its event id, an event not yet in it is folded again and its fact republished).

The table and the group's offsets are one state: on a start where the group has no
committed offsets (its first start, or someone deleted the group to replay) the changelog
is emptied too, and where the changelog is missing (an agent of the in-memory kind ran
before) the group is deleted too, so the agent reads every case topic from the beginning
once, with an empty table. One instance runs at a time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any, cast

import faust
from faust.types import TP
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from events.analytics import AnalyticsCaseFact, AnalyticsWeek
from events.codec import decode, from_payload, to_payload
from events.envelope import CaseEvent, DomainEvent
from events.topics import ANALYTICS_TOPIC, ANALYTICS_WEEKLY_TOPIC, SERVICES, case_topic
from services.reporting.analytics.facts import FactBook
from services.reporting.analytics.weekly import week_messages, weekly_aggregates
from services.runtime.kafka.config import SERVICE_PRINCIPALS, KafkaSettings
from services.runtime.kafka.topics import broker_count, create_missing, ensure_topics

log = logging.getLogger("cases.analytics")

APP_ID = "cases-analytics"
TABLE = "case-facts"
#: faust's name for the table's changelog (`<app id>-<table>-changelog`); svc-analytics
#: may create, read, write and delete topics prefixed `cases-analytics-` (access.py).
CHANGELOG_TOPIC = f"{APP_ID}-{TABLE}-changelog"
PRINCIPAL = SERVICE_PRINCIPALS["analytics"]  # its ACLs: services/runtime/kafka/access.py
BATCH_SIZE = 500
BATCH_WITHIN = 1.0  # seconds
REPOSITION_EVERY = 1.5  # seconds
#: Short, so that after a crash the group empties soon and a restarted agent takes over.
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


def saved_case(book: FactBook, case: str) -> bytes:
    """A case's table value: its events (never the identity event: FactBook drops it) and
    its latest published fact."""
    events, fact = book.saved(case)
    return json.dumps({"events": [to_payload(event) for event in events],
                       "fact": None if fact is None else fact.model_dump(mode="json")}).encode()


def restore_case(book: FactBook, case: str, value: bytes) -> None:
    saved = json.loads(value)
    events = [event for event in map(from_payload, saved["events"]) if isinstance(event, CaseEvent)]
    fact = None if saved["fact"] is None else AnalyticsCaseFact.model_validate(saved["fact"])
    book.restore(case, events, fact)


Place = tuple[str, int]  # a case topic's partition, as (topic, partition)


def case_topic_names() -> frozenset[str]:
    return frozenset(case_topic(service) for service in SERVICES)


def make_app(settings: KafkaSettings, key: bytes, partitions: int | None = None,
             committed: dict[Place, int] | None = None) -> faust.App:
    """The agent; `committed` is its group's committed offset per case partition at start."""
    committed = committed or {}
    topics_read = case_topic_names()
    already_read = sum(committed.values())
    app = faust.App(
        APP_ID,
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers],
        broker_credentials=credentials(settings),
        store="memory://",
        web_enabled=False,
        topic_disable_leader=True,
        topic_allow_declare=False,  # topics are made by ensure_topics/ensure_changelog
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=SESSION_TIMEOUT,
        key_serializer="raw",
        value_serializer="raw",
    )
    case_topics = app.topic(*sorted(topics_read),
                            key_type=bytes, value_type=bytes,
                            key_serializer="raw", value_serializer="raw")
    facts_topic = app.topic(ANALYTICS_TOPIC, key_type=bytes, value_type=bytes,
                            key_serializer="raw", value_serializer="raw")
    weekly_topic = app.topic(ANALYTICS_WEEKLY_TOPIC, key_type=bytes, value_type=bytes,
                             key_serializer="raw", value_serializer="raw")
    # Keyed by case id and partitioned like the case topics: a case's row goes to the
    # changelog partition of the case topic partition its events came from.
    table = app.Table(TABLE, partitions=partitions or settings.partitions,
                      key_type=bytes, value_type=bytes)  # raw: the app's serializers
    book = FactBook(key)
    weeks: dict[str, AnalyticsWeek] = {}
    #: The next offset per case partition this process has folded (at start: the group's).
    next_offset: dict[Place, int] = dict(committed)
    repositioned = asyncio.Event()

    def fresh(batch: Iterable[faust.EventT[bytes]]) -> list[faust.EventT[bytes]]:
        """The batch without messages folded already: after a seek back (below) they come
        again; their effects are in the table, and the log counts each message once."""
        seen: set[tuple[str, int, int]] = set()
        kept = []
        for item in batch:
            topic, partition, offset = item.message.topic, item.message.partition, item.message.offset
            if offset >= next_offset.get((topic, partition), 0) and (topic, partition, offset) not in seen:
                seen.add((topic, partition, offset))
                kept.append(item)
        return kept

    def folded(batch: Iterable[faust.EventT[bytes]]) -> None:
        for item in batch:
            place = (item.message.topic, item.message.partition)
            next_offset[place] = max(next_offset.get(place, 0), item.message.offset + 1)

    recoveries = 0

    @table.on_recover
    async def restored() -> None:
        """After the table's recovery from its changelog (every start, every rebalance):
        the book and the weekly counts last published are the table's."""
        book.clear()
        for case, value in list(table.data.items()):
            restore_case(book, bytes(case).decode(), value)
        weeks.clear()
        weeks.update((week.week, week) for week in week_messages(weekly_aggregates(book.latest())))
        nonlocal recoveries
        recoveries += 1
        cases = len(book.events)
        if recoveries == 1 and (cases or already_read):
            log.info("analytics agent resumed: %d cases restored from %s, reading on after the "
                     "%d case messages its group had committed", cases, CHANGELOG_TOPIC, already_read)
        log.info("analytics agent ready (%d cases in its table)", cases)
        repositioned.clear()

    @app.timer(REPOSITION_EVERY)  # type: ignore[untyped-decorator]
    async def reposition() -> None:
        """Once the streams flow after a recovery, seek every assigned case partition to the
        next offset this agent has not folded. Why: faust resumes the stream partitions, then
        seeks them to the committed offsets while its fetcher runs, and a fetch in flight
        across that seek is dropped while the flow is still suspended, its offsets passed:
        a SIGKILLed agent's successor then never saw the messages its predecessor had not
        committed. Messages that come twice are dropped by fresh()."""
        recovery = app.tables.recovery  # type: ignore[attr-defined]
        if repositioned.is_set() or not recovery.completed.is_set():
            return
        await asyncio.sleep(REPOSITION_EVERY)  # past a fetch in flight (faust's getmany: 1 s)
        places = sorted((tp.topic, tp.partition) for tp in app.consumer.assignment()
                        if tp.topic in topics_read)
        for topic, partition in places:
            await app.consumer.seek(TP(topic, partition), next_offset.get((topic, partition), 0))
        repositioned.set()
        log.info("analytics agent reading %d case partitions on from the offsets it has not "
                 "folded", len(places))

    @app.agent(case_topics, name="case-facts")
    async def publish_case_facts(stream: faust.StreamT[bytes]) -> None:
        # take_events, not take: each event's partition is the partition of its case's row.
        batches = cast(faust.Stream[bytes], stream).take_events(BATCH_SIZE, within=BATCH_WITHIN)
        async for taken in batches:
            batch = fresh(taken)
            if not batch:
                continue
            partition_of: dict[str, int] = {}
            events: list[DomainEvent] = []
            for item in batch:
                for event in decoded([item.value]):
                    if isinstance(event, CaseEvent):
                        partition_of[str(event.case_id)] = item.message.partition
                    events.append(event)
            deliveries = []
            changed = book.add(events)
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
            # Wait for the broker's acks, then save the cases that took new events, and wait
            # for those too: take_events() acknowledges the batch's offsets after this.
            await asyncio.gather(*deliveries)
            saves = []
            for case in book.touched:
                row, value = case.encode(), saved_case(book, case)
                table.data[row] = value
                saves.append(table.send_changelog(partition_of[case], row, value))
            await asyncio.gather(*saves)
            folded(batch)
            if deliveries:
                log.info("read %d case messages, published %d case facts and weekly counts",
                         len(batch), len(deliveries))
            else:
                log.info("read %d case messages, no fact changed", len(batch))

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def announce(sender: Any, assigned: Any, **_: Any) -> None:
        if assigned:
            log.info("analytics agent assigned: %s",
                     sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))

    return app


def forget_committed_offsets(admin: KafkaAdminClient, timeout: float = SESSION_TIMEOUT * 3) -> None:
    """Delete the agent's consumer group, so it starts again from the topics' beginning.
    A group left by a killed agent is not empty until its session times out: wait it out."""
    deadline = time.monotonic() + timeout
    while True:
        result = admin.delete_groups([APP_ID]).get(APP_ID, "OK")
        if result in ("OK", "GroupIdNotFoundError"):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"cannot rewind consumer group {APP_ID}: {result} "
                               "(is another analytics agent running?)")
        time.sleep(1.0)


def wait_until_gone(admin: KafkaAdminClient, topic: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while topic in admin.list_topics():
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic} was not deleted")
        time.sleep(0.2)


def case_partitions(admin: KafkaAdminClient, settings: KafkaSettings) -> int:
    [described] = admin.describe_topics([case_topic(SERVICES[0])])
    return len(described.get("partitions") or ()) or settings.partitions


def ensure_changelog(settings: KafkaSettings) -> tuple[int, dict[Place, int]]:
    """Make the table's changelog and the group's offsets one state (module docstring);
    returns the changelog's partition count (that of the case topics) and the group's
    committed offset per case partition (none: it reads from the beginning)."""
    admin = KafkaAdminClient(**settings.client_config(PRINCIPAL), client_id=f"{APP_ID}-admin")
    try:
        partitions = case_partitions(admin, settings)
        committed = admin.list_group_offsets({APP_ID: None}).get(APP_ID) or {}
        exists = CHANGELOG_TOPIC in admin.list_topics()
        if exists and not committed:
            log.info("no committed offsets for %s: emptying %s", APP_ID, CHANGELOG_TOPIC)
            admin.delete_topics([CHANGELOG_TOPIC])
            wait_until_gone(admin, CHANGELOG_TOPIC)
            exists = False
        elif committed and not exists:
            log.info("no %s: reading the case topics again from the beginning", CHANGELOG_TOPIC)
            forget_committed_offsets(admin)
            committed = {}
        if not exists:
            replication = settings.replication_factor or min(3, broker_count(admin))
            configs = {"cleanup.policy": "compact",
                       "min.insync.replicas": str(max(1, replication - 1))}
            deadline = time.monotonic() + 60
            while not create_missing(admin, [NewTopic(CHANGELOG_TOPIC, partitions, replication,
                                                      topic_configs=configs)]):
                if CHANGELOG_TOPIC in admin.list_topics():
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"cannot create {CHANGELOG_TOPIC}")
                time.sleep(0.5)
            admin.wait_for_topics([CHANGELOG_TOPIC], timeout_ms=30_000)
        return partitions, {(tp.topic, tp.partition): meta.offset
                            for tp, meta in committed.items()
                            if tp.topic in case_topic_names() and meta.offset >= 0}
    finally:
        admin.close()


def run_analytics_worker(settings: KafkaSettings, key: bytes, loglevel: str = "warn") -> None:
    """Run the analytics agent until SIGTERM or SIGINT."""
    ensure_topics(settings, PRINCIPAL)  # faust does not create them here; secured: provisioned
    partitions, committed = ensure_changelog(settings)
    app = make_app(settings, key, partitions, committed)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as done:
        if done.code not in (0, None):
            raise
