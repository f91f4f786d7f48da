"""Benchmark 2: raw kafka-python produce + consume (side B) of the records the relays send."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError

from bench.kafka_source import Message, Source, relay_messages
from bench.protocol import Sample, settle, timed, unsettle
from bench.sysinfo import KAFKA_RUN, broker_pids

#: Side A: the project's Kafka pipeline (outbox relays + a consumer worker).
PIPELINE_MODULE = "bench.kafka_pipeline"


@dataclass(frozen=True)
class KafkaSettings:
    """performance.md's 'same settings on both sides': any A side must honour these."""

    bootstrap: str
    partitions: int = 1
    replication: int = 1
    linger_ms: int = 5
    batch_size: int = 64 * 1024
    acks: str = "all"
    enable_idempotence: bool = True
    compression_type: str | None = None
    max_poll_records: int = 500
    # The project's consumer value (services/runtime/kafka/consumer.py), not
    # performance.md's 500. With several partitions on one broker, kafka-python keeps one
    # fetch in flight per broker. A fetch issued while only drained partitions are
    # fetchable is parked by the broker for the full fetch_max_wait_ms, and the partitions
    # that still have data wait behind it. At 500 ms that stall hit B in most samples
    # (about 0.5 s on a 1.5 s consume); at 20 ms it is noise on both sides.
    fetch_max_wait_ms: int = 20
    timeout_s: float = 120.0

    def producer_config(self) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap, "linger_ms": self.linger_ms,
                "batch_size": self.batch_size, "acks": self.acks,
                "enable_idempotence": self.enable_idempotence,
                "compression_type": self.compression_type}

    def consumer_config(self) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap, "auto_offset_reset": "earliest",
                "max_poll_records": self.max_poll_records,
                "fetch_max_wait_ms": self.fetch_max_wait_ms, "enable_auto_commit": False}


@dataclass(frozen=True)
class Workload:
    """The records both sides move, pre-built: exactly what the project's outbox relays
    send for the events in `source` (key, value and headers; see bench/kafka_source.py),
    in the order they send them, each tagged with the service whose topic it goes to."""

    messages: tuple[Message, ...]
    cases: int
    copies: int  # the source holds `copies` times benchmark 1's cases, all distinct
    source: Source  # the prepared home: side A republishes its stores

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.service for m in self.messages))

    @property
    def payload_bytes(self) -> int:
        return sum(len(m.value) for m in self.messages)

    @property
    def record_bytes(self) -> int:
        return sum(m.size for m in self.messages)

    def describe(self) -> dict[str, Any]:
        n = max(len(self.messages), 1)
        return {"messages": len(self.messages), "copies": self.copies, "cases": self.cases,
                "messages_by_topic": {s: sum(1 for m in self.messages if m.service == s)
                                      for s in self.services},
                "mean_value_bytes": self.payload_bytes / n,
                "mean_record_bytes_key_value_headers": self.record_bytes / n,
                "stored_events_in_source": self.source.stored_events}


# A Kafka side is any function `(workload, settings, tag) -> Sample`. `run_raw` below is
# side B; the project's own pipeline (outbox relays + a consumer worker) is side A,
# plugged in through `bench.kafka_pipeline.run` (see `pipeline_side`).
KafkaSide = Callable[[Workload, KafkaSettings, str], Sample]


def make_workload(source: Source, copies: int, tmp_root: Path) -> Workload:
    """The records the relays of reporting's leaders (intake, records, review) send for
    everything `source` holds, setup events (policies, reviewers) included."""
    return Workload(relay_messages(source, tmp_root), source.cases, copies, source)


def default_bootstrap() -> str:
    path = KAFKA_RUN / "bootstrap.servers"
    return path.read_text().strip() if path.exists() else "127.0.0.1:9092"


def reachable(bootstrap: str) -> str | None:
    """None if the first bootstrap server accepts TCP, else why not."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        return None
    except OSError as error:
        return f"{bootstrap}: {error}; start it with `bash infra/kafka/up.sh`"


def fresh_topics(settings: KafkaSettings, names: list[str]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap)
    try:
        admin.create_topics([NewTopic(name, settings.partitions, settings.replication)
                             for name in names], wait_for_metadata=True)
    finally:
        admin.close()


def drop_topics(settings: KafkaSettings, names: list[str], groups: Sequence[str] = ()) -> None:
    """Delete a sample's own topics (and consumer groups, if it committed under one)."""
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap)
    try:
        admin.delete_topics(names)
        if groups:
            # A sample that failed early never committed: then there is no group.
            with contextlib.suppress(KafkaError):
                admin.delete_groups(list(groups))
    finally:
        admin.close()


def produce(producer: KafkaProducer, topics: dict[str, str], messages: tuple[Message, ...]) -> int:
    for m in messages:
        producer.send(topics[m.service], key=m.key, value=m.value, headers=m.headers)
    producer.flush()
    return len(messages)


def consume(consumer: KafkaConsumer, expected: int, timeout_s: float) -> int:
    received, deadline = 0, time.monotonic() + timeout_s
    while received < expected:
        for records in consumer.poll(timeout_ms=500).values():
            received += len(records)  # decoded by nobody: consume and discard
        if time.monotonic() > deadline:
            raise TimeoutError(f"consumed {received} of {expected} messages in {timeout_s} s")
    return received


def run_raw(work: Workload, settings: KafkaSettings, tag: str) -> Sample:
    """Side B: send every record to its service's topic, flush, then poll them all back.

    Same topics as A (one per publishing service, `--partitions` each), same records.
    Untimed setup: topic creation, producer and consumer connections, and one priming
    message per topic (so the idempotent producer's id and the metadata are paid before
    the clock starts). The consumer is assigned the partitions (no group): nothing is
    committed, so a group's join and rebalance would be setup cost, not throughput.
    """
    topics = {service: f"bench-raw-{tag}-{service}" for service in work.services}
    fresh_topics(settings, list(topics.values()))
    producer = KafkaProducer(**settings.producer_config())
    consumer = KafkaConsumer(**settings.consumer_config())
    pids = broker_pids()
    try:
        partitions = [TopicPartition(topic, p) for topic in topics.values()
                      for p in sorted(producer.partitions_for(topic))]
        for topic in topics.values():
            producer.send(topic, key=b"prime", value=b"{}").get(timeout=30)
        consumer.assign(partitions)
        ends = consumer.end_offsets(partitions)  # connects, and skips the priming messages
        for tp in partitions:
            consumer.seek(tp, ends[tp])
        settle()
        try:
            sent = timed("produce", lambda: produce(producer, topics, work.messages), pids)
            expected = len(work.messages)
            got = timed("consume", lambda: consume(consumer, expected, settings.timeout_s), pids)
        finally:
            unsettle()
    finally:
        producer.close()
        consumer.close()
        drop_topics(settings, list(topics.values()))
    return Sample("raw kafka-python", work.cases, [sent, got],
                  {"topic_partitions": settings.partitions, "topics": len(topics),
                   "copies": work.copies, "broker_pids": pids})


def pipeline_side() -> KafkaSide | None:
    """The project's Kafka pipeline as side A, once `bench/kafka_pipeline.py` defines
    `run(workload, settings, tag) -> Sample`; None (ratio null) until then."""
    if importlib.util.find_spec(PIPELINE_MODULE) is None:
        return None
    return importlib.import_module(PIPELINE_MODULE).run  # type: ignore[no-any-return]

