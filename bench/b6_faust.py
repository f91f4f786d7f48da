"""B6: the faust analytics agent (A) against a raw aiokafka `getmany` loop doing the same
step on the same topics (B). Goal 0.5.

The source home's events, as the relays send them, are put on four bench topics
(`bench-b6-<stamp>-<service>`, untimed). Both sides run in this process, on its event loop.

**A.** `services/reporting/analytics/agent.make_app`, the project's faust app, with the
names it reads its topics and group from redirected for the duration of the sample (the
four case topics to the bench topics, the facts and weekly topics to bench ones, the app
id to a fresh group), started on this process's loop (`app.start()`). Its agent batches
with `stream.take(500, within=1.0)`, decodes, folds in its `FactBook`, and publishes the
changed facts and weekly aggregates, waiting for their acks.

**B.** aiokafka: a consumer assigned to the same partitions from offset 0, `getmany(
max_records=500)`, the same decode + `FactBook.add`, and the same fact sends, acked per
batch, on an AIOKafkaProducer.

Timed on both sides from the first batch handed to `FactBook.add` to the moment every
event has been through it: faust's group join and rebalance (seconds) are left out, as is
B's connection. A `FactBook` subclass counts the events (both sides use it).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from bench.b4_rebuild import publish, relay_records
from bench.kafka_raw import KafkaSettings, drop_topics, fresh_topics, reachable
from bench.protocol import Phase, Sample, run_pairs, settle, unsettle
from bench.suite import Context, peak_rss_mb
from bench.sysinfo import broker_pids, process_cpu_s
from services.bootstrap import SERVICES
from services.reporting.analytics import agent as agent_module
from services.reporting.analytics.agent import decoded, fact_message
from services.reporting.analytics.facts import FactBook
from services.runtime.kafka.config import parse_bus

GOAL = 0.5


class Clocked:
    """Counts the events through every FactBook made while it is installed, and notes the
    wall and CPU time of the first batch and of the moment the last event went through."""

    def __init__(self, expected: int):
        self.expected = expected
        self.seen = 0
        self.first: tuple[float, float, float | None] | None = None
        self.last: tuple[float, float, float | None] | None = None
        self.done = asyncio.Event()
        self.pids = broker_pids()

    def mark(self) -> tuple[float, float, float | None]:
        from bench.protocol import cpu_s

        return time.perf_counter(), cpu_s(), process_cpu_s(self.pids)

    def book(self, key: bytes) -> FactBook:
        clock = self

        class CountingBook(FactBook):
            def add(self, events: Any) -> Any:
                if clock.first is None:
                    clock.first = clock.mark()
                events = list(events)
                clock.seen += len(events)
                changed = super().add(events)
                return changed

        return CountingBook(key)

    def check(self) -> None:
        if self.seen >= self.expected and self.last is None:
            self.last = self.mark()
            self.done.set()

    def phase(self, name: str) -> Phase:
        assert self.first and self.last
        broker = (None if self.first[2] is None or self.last[2] is None
                  else self.last[2] - self.first[2])
        return Phase(name, self.last[0] - self.first[0], self.last[1] - self.first[1], self.seen, broker)


async def run_faust(bootstrap: str, topics: dict[str, str], out: dict[str, str], group: str,
                    expected: int, key: bytes) -> Clocked:
    clocked = Clocked(expected)
    redirect = {"case_topic": topics.__getitem__, "ANALYTICS_TOPIC": out["facts"],
                "ANALYTICS_WEEKLY_TOPIC": out["weekly"], "APP_ID": group,
                "FactBook": clocked.book}
    saved = {name: getattr(agent_module, name) for name in redirect}
    for name, value in redirect.items():
        setattr(agent_module, name, value)
    try:
        app = agent_module.make_app(parse_bus(f"kafka://{bootstrap}"), key)
    finally:
        for name, value in saved.items():
            setattr(agent_module, name, value)
    await app.start()
    try:
        deadline = time.monotonic() + 300
        while not clocked.done.is_set():
            clocked.check()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the agent took {clocked.seen} of {expected} events")
            await asyncio.sleep(0.001)
    finally:
        await app.stop()
    return clocked


async def run_aiokafka(bootstrap: str, topics: dict[str, str], facts: str, expected: int,
                       key: bytes) -> Clocked:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    clocked = Clocked(expected)
    book = clocked.book(key)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await consumer.start()
    await producer.start()
    try:
        partitions = [TopicPartition(t, p) for t in topics.values()
                      for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(t, p) for t in topics.values()
                          for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        while clocked.seen < expected:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            values = [m.value for records in batches.values() for m in records]
            if not values:
                continue
            changed = book.add(decoded(values))
            sends = []
            for fact in changed:
                ref, body = fact_message(fact)
                sends.append(await producer.send(facts, key=ref, value=body,
                                                 headers=agent_module.FACT_HEADERS))
            await asyncio.gather(*sends)
            clocked.check()
    finally:
        await consumer.stop()
        await producer.stop()
    return clocked


def run(ctx: Context) -> list[dict[str, Any]]:
    sink = ctx.sink("B6")
    try:
        down = reachable(ctx.bootstrap)
        if down:
            summary = {"type": "summary", "bench": "B6", "skipped": f"broker unreachable: {down}"}
            sink.write(summary)
            return [summary]
        cases = ctx.cases(2000, 10)
        print(f"B6: a source home of {cases} cases (untimed)...", file=sys.stderr)
        source = ctx.source_home(cases)
        settings = KafkaSettings(bootstrap=ctx.bootstrap)
        tag = ctx.stamp.lower()
        topics = {s: f"bench-b6-{tag}-{s}" for s in SERVICES}
        key = os.urandom(32)
        made: list[str] = list(topics.values())
        fresh_topics(settings, made)
        try:
            total = publish(settings, topics, relay_records(source))

            def side(kind: str, index: int) -> Sample:
                out = {"facts": f"bench-b6-{tag}-{kind}{index}-facts",
                       "weekly": f"bench-b6-{tag}-{kind}{index}-weekly"}
                fresh_topics(settings, list(out.values()))
                made.extend(out.values())
                settle()
                try:
                    if kind == "a":
                        clocked = asyncio.run(run_faust(ctx.bootstrap, topics, out,
                                                        f"bench-b6-{tag}-a{index}", total, key))
                    else:
                        clocked = asyncio.run(run_aiokafka(ctx.bootstrap, topics, out["facts"], total, key))
                finally:
                    unsettle()
                label = ("faust agent (stream.take 500)" if kind == "a"
                         else "raw aiokafka getmany + the same step")
                return Sample(label, cases, [clocked.phase("consume+fold+publish")],
                              {"peak_rss_mb": peak_rss_mb()})

            summary = run_pairs("B6 faust", lambda i: side("a", i), lambda i: side("b", i),
                                pairs=ctx.pairs, warmup=ctx.warmup, sink=sink,
                                notes={"goal": GOAL, "cases": cases, "messages": total})
        finally:
            drop_topics(settings, made, [f"bench-b6-{tag}-a{i}" for i in range(ctx.pairs + ctx.warmup)])
        return [summary]
    finally:
        sink.close()
