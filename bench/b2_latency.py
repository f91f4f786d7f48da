"""B2: end-to-end latency, command to view, at half of B1's throughput (A), against raw
produce-to-consume latency at the same message rate (B). p50 and p99; goal: A's p99 at
most 3x B's.

**A.** The B1 deployment (four worker processes, fresh topics and home). A driver opens
cases at a fixed rate: each `open_case` is recorded in intake's store (timed from just
before the command), and a watcher polls reporting's views every 2 ms for the cases still
pending. A case's latency is the time until reporting's `case_state` holds it: intake's
transaction, its relay, the topic, reporting's consumer and its view transaction. The rate
is half of B1's events/s (this run's, else the latest recorded B1, else 5 cases/s),
divided by the events one case opening makes in all four stores (measured untimed).

**B.** confluent-kafka: a producer (linger 5 ms, acks=all, idempotent) sends 600-byte
values holding their send time at the same message rate, and a consumer in a thread
(assigned, fetch.wait.max.ms 5) notes each arrival.

Each pair runs for the window (30 s at full size, 3 s with --quick).
"""

from __future__ import annotations

import json
import sqlite3
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from bench import embedded
from bench.b1_pipeline import ctx as command_ctx
from bench.b1_pipeline import deployment, reset_bus, stored
from bench.kafka_raw import KafkaSettings, drop_topics, fresh_topics, reachable
from bench.latency import run_latency_pairs
from bench.suite import Context
from services.intake.request_file import parse_case_request
from services.runtime.application import retrying

GOAL = 3.0
RESULTS = Path(__file__).resolve().parent / "results"


def b1_rate(ctx: Context) -> float | None:
    """B1's A events/s: this run's, else the latest full run's on record."""
    for summary in ctx.summaries:
        if summary.get("bench") == "B1 pipeline" and summary.get("a"):
            return summary["a"]["events_per_s"]["median"]  # type: ignore[no-any-return]
    for path in sorted(RESULTS.glob("*-B1.jsonl"), reverse=True):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record.get("type") == "summary" and record.get("a"):
                return record["a"]["events_per_s"]["median"]  # type: ignore[no-any-return]
    return None


class ViewWatcher(threading.Thread):
    """Polls reporting's views for pending cases; notes when each appeared."""

    def __init__(self, store: Path):
        super().__init__(daemon=True)
        self.store = store
        self.pending: dict[str, float] = {}
        self.latencies: list[float] = []
        self.lock = threading.Lock()
        self.stopping = False

    def expect(self, case_id: UUID, started: float) -> None:
        with self.lock:
            self.pending[str(case_id)] = started

    def run(self) -> None:
        db = sqlite3.connect(f"file:{self.store}?mode=ro", uri=True)
        try:
            while not self.stopping or self.pending:
                with self.lock:
                    ids = list(self.pending)
                if ids:
                    marks = ", ".join("?" * len(ids))
                    found = db.execute(f"SELECT case_id FROM reporting_case_state WHERE case_id IN ({marks})",
                                       ids).fetchall()
                    now = time.perf_counter()
                    with self.lock:
                        for (case_id,) in found:
                            self.latencies.append((now - self.pending.pop(case_id)) * 1000)
                time.sleep(0.002)
        finally:
            db.close()


def side_a(rt: Any, clock: Any, home: Path, rate: float, window: float, seed: int) -> tuple[list[float], dict[str, Any]]:
    work = embedded.make_workload(max(1, int(rate * window)), seed=seed)
    watcher = ViewWatcher(home / "reporting.sqlite")
    watcher.start()
    interval = 1 / rate
    start = time.perf_counter()
    for index, plan in enumerate(work.cases):
        due = start + index * interval
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        c = command_ctx(clock, "user:case_handler")
        began = time.perf_counter()
        case = retrying(lambda p=plan, c=c: rt.intake.open_case(parse_case_request(p.request_json, c.today), c))
        watcher.expect(case.case_id, began)
    watcher.stopping = True
    watcher.join(timeout=120)
    if watcher.pending:
        raise RuntimeError(f"{len(watcher.pending)} cases never reached reporting's views")
    return watcher.latencies, {"cases": len(work.cases), "rate_cases_per_s": rate,
                               "label": "open_case -> reporting case_state"}


def side_b(settings: KafkaSettings, tag: str, msg_rate: float, window: float) -> tuple[list[float], dict[str, Any]]:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka import TopicPartition as CTopicPartition

    topic = f"bench-b2-{tag}"
    fresh_topics(settings, [topic])
    producer = Producer({"bootstrap.servers": settings.bootstrap, "linger.ms": settings.linger_ms,
                         "acks": "all", "enable.idempotence": True})
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": f"bench-b2-{tag}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 5})
    latencies: list[float] = []
    count = max(1, int(msg_rate * window))
    try:
        producer.produce(topic, key=b"prime", value=b"{}")
        producer.flush(30)
        parts = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        consumer.assign([CTopicPartition(topic, p, consumer.get_watermark_offsets(
            CTopicPartition(topic, p), timeout=30)[1]) for p in parts])

        def receive() -> None:
            # poll(), one message at a time: consume(num_messages=N, timeout=T) waits up to
            # T for N messages, which at this rate would add T to every latency.
            while len(latencies) < count:
                m = consumer.poll(0.05)
                if m is not None and m.error() is None:
                    sent = struct.unpack("d", m.value()[:8])[0]
                    latencies.append((time.perf_counter() - sent) * 1000)

        reader = threading.Thread(target=receive, daemon=True)
        reader.start()
        time.sleep(0.5)  # the consumer's first fetch is in flight before the first send
        padding = b"x" * 592
        interval = 1 / msg_rate
        start = time.perf_counter()
        for index in range(count):
            pause = start + index * interval - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            producer.produce(topic, key=str(index).encode(), value=struct.pack("d", time.perf_counter()) + padding)
            producer.poll(0)
        producer.flush(30)
        reader.join(timeout=60)
    finally:
        consumer.close()
        drop_topics(settings, [topic])
    return latencies, {"messages": count, "rate_messages_per_s": msg_rate,
                       "label": "confluent-kafka produce -> consume"}


def run(ctx: Context) -> list[dict[str, Any]]:
    sink = ctx.sink("B2")
    try:
        down = reachable(ctx.bootstrap)
        if down:
            summary = {"type": "summary", "bench": "B2", "skipped": f"broker unreachable: {down}"}
            sink.write(summary)
            return [summary]
        window = 3.0 if ctx.quick else 30.0
        tag = ctx.stamp.lower()
        print("B2: waiting for the Kafka test lock...", file=sys.stderr)
        with ctx.hold_bus():
            try:
                with deployment(ctx.bootstrap, ctx.tmp_dir) as (workers, rt, clock):
                    # Untimed: what one case opening makes in all four stores, once settled.
                    before = stored(rt)
                    first = embedded.make_workload(1, seed=7).cases[0]
                    c = command_ctx(clock, "user:case_handler")
                    rt.command(lambda: rt.intake.open_case(parse_case_request(first.request_json, c.today), c))
                    per_case = max(1, stored(rt) - before)
                    events_per_s = b1_rate(ctx)
                    rate = (0.5 * events_per_s / per_case) if events_per_s else 5.0
                    settings = KafkaSettings(bootstrap=ctx.bootstrap)
                    summary = run_latency_pairs(
                        "B2 latency",
                        lambda i: side_a(rt, clock, workers.home, rate, window, 1000 + i),
                        lambda i: side_b(settings, f"{tag}-{i}", rate * per_case, window),
                        pairs=ctx.pairs, warmup=ctx.warmup, sink=sink,
                        notes={"goal": GOAL, "window_s": window, "cases_per_s": rate,
                               "events_per_case_opening": per_case,
                               "b1_events_per_s": events_per_s,
                               "title": "B2 latency p99, command -> view"})
            finally:
                reset_bus(ctx.bootstrap)  # leave no case topics behind, as a test expects
        return [summary]
    finally:
        sink.close()
