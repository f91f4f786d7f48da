"""Benchmark 2, side A: the project's own Kafka pipeline on the records side B sends.

One sample moves everything the source stores hold through the code a deployment runs:

1. **publish**: the `OutboxRelay` of each of reporting's leaders (intake, records,
   review) reads its service's notification log and sends every event to that
   service's topic. For each event, the relay maps the stored row back to the pydantic
   event and encodes it. It builds the headers and sends the record. After each batch
   of up to 500 it calls flush(), waits on every future, and commits its new position
   to the service's SQLite store. `publish_pending()` is called until it returns 0.
2. **consume**: a fresh, empty reporting service consumes those topics through
   `ServiceConsumer.poll_once`. For each record it parses the headers and decodes the
   value (orjson + pydantic). Then `process_event` runs the reaction (OpinionSubmitted
   prepares a report) and commits the new events, the tracking row and the reporting
   views in one SQLite transaction. The consumer commits its Kafka offsets after each
   poll that handled anything.

The relays and the consumer are the project's classes, pointed at this sample's own
topics (`bench.<tag>.<service>`) and consumer group (`bench-<tag>-reporting`). Nothing
touches `cases.*` topics or `cases-*` groups. `BenchConsumer` runs `ServiceConsumer`'s
own constructor with the names it derives redirected to ours. It also refuses to
dead-letter: a record that would go to `cases.deadletter.v1` fails the sample instead.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition

from bench import embedded
from bench.kafka_raw import KafkaSettings, Workload, drop_topics, fresh_topics
from bench.kafka_source import CONSUMER, bench_relay, copy_stores
from bench.protocol import Sample, settle, timed, unsettle
from bench.sysinfo import broker_pids
from services.bootstrap import build_service
from services.common.context import SettableClock
from services.runtime.application import ServiceApplication
from services.runtime.kafka.config import ADMIN_PRINCIPAL, parse_bus
from services.runtime.kafka.consumer import ServiceConsumer
from services.runtime.kafka.outbox import OutboxRelay, make_producer


class BenchConsumer(ServiceConsumer):
    """ServiceConsumer on our topics and group, otherwise exactly the project's.

    The project's constructor runs as is (confluent-kafka, the new group protocol), told
    our topic names and group. `poll_once`, `handle` and `commit` are inherited unchanged.
    A kafka-python reader beside it answers the untimed questions (partitions, end offsets).
    """

    def __init__(self, app: ServiceApplication, topics: dict[str, str], bootstrap: str,
                 producer: KafkaProducer, group: str):
        super().__init__(app, list(topics), parse_bus(f"kafka://{bootstrap}"), producer, group=group,
                         topic_of=topics.__getitem__)
        #: The project's consumer settings, in kafka-python's names where B has them.
        self.config = {"auto_offset_reset": "earliest", "fetch_max_wait_ms": 20,
                       "enable_auto_commit": False, "max_poll_records": 500}
        self.reader = KafkaConsumer(bootstrap_servers=bootstrap)
        deadline = time.monotonic() + 60
        while {t for t, _ in self.assignment()} != set(topics.values()):
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"ServiceConsumer did not take the bench topics/group "
                                   f"({self.assignment()}): update {__name__}")
            self.poll_once(timeout_ms=100)

    def close(self) -> None:
        self.reader.close()
        super().close()

    def dead_letter(self, message: Any, reason: str) -> None:
        # The project would send it to cases.deadletter.v1; a benchmark record that cannot
        # be applied means the benchmark is wrong, so stop here.
        raise RuntimeError(f"{message.topic}[{message.partition}]@{message.offset}: {reason}")


def publish(relays: list[OutboxRelay]) -> int:
    sent = 0
    for relay in relays:
        while moved := relay.publish_pending():
            sent += moved
    return sent


def consume(consumer: BenchConsumer, expected: int, timeout_s: float) -> int:
    handled, deadline = 0, time.monotonic() + timeout_s
    while handled < expected:
        handled += consumer.poll_once(timeout_ms=100)
        if time.monotonic() > deadline:
            raise TimeoutError(f"handled {handled} of {expected} records in {timeout_s} s")
    return handled


def config_differences(producer: KafkaProducer, consumer_config: dict[str, Any],
                       settings: KafkaSettings) -> dict[str, Any]:
    """Where the project's clients differ from B's settings (recorded, not corrected)."""
    diff: dict[str, Any] = {}
    for key, b_value in settings.producer_config().items():
        a_value = producer.config.get(key)
        if key == "acks" and b_value == "all":
            b_value = -1  # kafka-python stores acks='all' as -1
        if key != "bootstrap_servers" and a_value != b_value:
            diff[f"producer.{key}"] = {"a": a_value, "b": b_value}
    for key, b_value in settings.consumer_config().items():
        a_value = consumer_config.get(key)
        if key != "bootstrap_servers" and a_value != b_value:
            diff[f"consumer.{key}"] = {"a": a_value, "b": b_value}
    return diff


def run(work: Workload, settings: KafkaSettings, tag: str) -> Sample:
    """Side A: the relays publish the source stores, a fresh reporting consumes them all.

    Untimed setup: a fresh copy of the publishers' stores (so the relays start from
    position 0), a fresh reporting store, topic creation, the project's producer
    (`make_producer`) with one priming record per topic (producer id, metadata), and the
    consumer assigned and positioned past the priming records, with one offset commit
    so the group coordinator is known before the clock starts.
    """
    topics = {service: f"bench.{tag}.{service}" for service in work.services}
    group = f"bench-{tag}-{CONSUMER}"
    clock = SettableClock(embedded.START)
    apps: list[ServiceApplication] = []
    producer: KafkaProducer | None = None
    consumer: BenchConsumer | None = None
    fresh_topics(settings, list(topics.values()))
    root = Path(tempfile.mkdtemp(prefix="bench-kafka-a-", dir=work.source.home.parent))
    pids = broker_pids()
    try:
        copy_stores(work.source.home, root / "source", tuple(topics))
        producer = make_producer(parse_bus(f"kafka://{settings.bootstrap}"), ADMIN_PRINCIPAL)
        relays = []
        for service, topic in topics.items():
            apps.append(build_service(service, root / "source", clock))
            relays.append(bench_relay(apps[-1], producer, topic))
        reporting = build_service(CONSUMER, root / "sink", clock)
        apps.append(reporting)
        for topic in topics.values():
            producer.send(topic, key=b"prime", value=b"{}").get(timeout=30)
        # The group starts past the priming records: committed before it joins.
        primer = KafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=group,
                               enable_auto_commit=False)
        partitions = [TopicPartition(t, p) for t in topics.values()
                      for p in sorted(primer.partitions_for_topic(t) or ())]
        primer.assign(partitions)
        primer.seek_to_end()
        primer.commit({tp: OffsetAndMetadata(primer.position(tp), "", -1) for tp in partitions})
        primer.close()
        consumer = BenchConsumer(reporting, topics, settings.bootstrap, producer, group)
        expected = len(work.messages)
        settle()
        try:
            sent = timed("publish", lambda: publish(relays), pids)
            got = timed("consume+apply", lambda: consume(consumer, expected, settings.timeout_s),
                        pids)
        finally:
            unsettle()
        details = check(work, relays, consumer, sent.events, got.events)
        details.update({"topic_partitions": settings.partitions, "topics": len(topics),
                        "copies": work.copies, "broker_pids": pids,
                        "differs_from_b": config_differences(producer, consumer.config, settings)})
    finally:
        try:
            if consumer is not None:
                consumer.close()
            if producer is not None:
                producer.close()
            for app in apps:
                app.close()
        finally:
            shutil.rmtree(root, ignore_errors=True)
            drop_topics(settings, list(topics.values()), [group])
    return Sample("pipeline: outbox relays + reporting consumer", work.cases, [sent, got], details)


def check(work: Workload, relays: list[OutboxRelay], consumer: BenchConsumer,
          published: int, handled: int) -> dict[str, Any]:
    """Untimed: every stored event went out, and reporting applied every one of them."""
    expected = len(work.messages)
    if published != expected:
        raise RuntimeError(f"the relays published {published} records, B sends {expected}")
    if any(relay.backlog() for relay in relays):
        raise RuntimeError("a relay still has unpublished events")
    if handled != expected or consumer.applied != expected:
        raise RuntimeError(f"reporting handled {handled} and applied {consumer.applied} "
                           f"of {expected} records")
    reporting = consumer.app
    for relay in relays:
        # Tracking is per upstream service and partition, by the broker's offset (offset + 1):
        # every partition of the topic must be tracked to its end.
        partitions = [TopicPartition(relay.topic, p)
                      for p in sorted(consumer.reader.partitions_for_topic(relay.topic) or set())]
        ends = consumer.reader.end_offsets(partitions)
        for tp in partitions:
            tracked = reporting.recorder.max_tracking_id(f"{relay.app.name}.{tp.partition}") or 0
            if tracked != ends[tp]:
                raise RuntimeError(f"reporting tracked {relay.topic}[{tp.partition}] to offset"
                                   f" {tracked}, the partition ends at {ends[tp]}")
    states = reporting.views.count_by_status()  # type: ignore[attr-defined]
    if sum(states.values()) != work.cases:
        raise RuntimeError(f"reporting's views hold {sum(states.values())} cases, "
                           f"expected {work.cases}: {states}")
    # Reporting's one reaction: each OpinionSubmitted prepares a report in its own store.
    opinions = sum(1 for m in work.messages if dict(m.headers).get("type") == b"opinion_submitted")
    reports = reporting.recorder.max_notification_id() or 0
    if reports != opinions:
        raise RuntimeError(f"reporting prepared {reports} reports for {opinions} opinions")
    return {"applied": consumer.applied, "reporting_status": states,
            "reporting_events_recorded": reports}

