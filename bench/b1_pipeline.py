"""B1: the whole pipeline over Kafka, the four workers as processes (A), against raw
confluent-kafka produce + consume of the same bytes and headers (B), and raw kafka-python
(B2, a second line).

**A.** A fresh home, fresh `cases.*` topics and groups, and `cases worker NAME` for each
of the four services as its own process, exactly as a deployment runs them. The benchmark
drives the cases through a `BusRuntime` (what the CLI uses with CASES_BUS) in bursts: every
case's next command is recorded, then `pump()` waits until every outbox is published and
every consumer group has caught up (the CLI's own read-your-writes wait). The steps are
those of B7: open, consent, a record, records complete, third-party consent for half,
the assigned reviewer's opinion, delivery. Timed: the bursts and the waits. The events
are everything the four stores recorded in that time, every one of which went through
its outbox, a topic, and its followers' consumers (reporting's views included).

**B.** After each A sample, the records on the four case topics (key, value, headers) are
read back, untimed. B (confluent-kafka) produces exactly those to four fresh bench topics
(same partitions), flushes, then consumes them all back (assigned, no group). B2 does the
same with kafka-python (bench/kafka_raw.py). Same settings as bench/kafka_raw.py:
linger 5 ms, 64 KiB batches, acks=all, idempotence, no compression.

The workers and the `cases.*` topics are shared with the test suite: B1 holds the test
suite's bus lock (`/tmp/cases-kafka-tests.lock`) for its whole run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from bench import embedded
from bench.kafka_raw import KafkaSettings, Workload, drop_topics, fresh_topics, reachable, run_raw
from bench.kafka_source import Message
from bench.protocol import Sample, run_pairs, settle, timed, unsettle
from bench.suite import Context, peak_rss_mb
from bench.sysinfo import broker_pids, process_cpu_s
from events.topics import SERVICES, case_topic
from services.bootstrap import BusRuntime
from services.common.context import Context as Ctx
from services.common.context import SettableClock
from services.intake.register_file import parse_register
from services.intake.request_file import parse_case_request
from services.review.reviewers_file import parse_reviewers
from services.runtime.application import retrying
from services.runtime.kafka.config import parse_bus
from services.runtime.kafka.topics import ensure_topics

ROOT = Path(__file__).resolve().parents[1]
GOAL = 0.3
SETUP_TYPES = {b"policy_terms_recorded", b"reviewer_registered"}


# -- the deployment: four worker processes on the case topics ----------------------------------

def reset_bus(bootstrap: str) -> None:
    """Delete the case topics and `cases-*` groups (as tests/kafka_support.py does)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cases-bench")
    try:
        groups = [g["group_id"] for g in admin.list_groups() if g["group_id"].startswith("cases-")]
        if groups:
            admin.delete_groups(groups)
        topics = [t for t in admin.list_topics() if t.startswith(("cases.", "partner."))]
        if topics:
            admin.delete_topics(topics)
        deadline = time.monotonic() + 60
        while set(topics) & set(admin.list_topics()):
            if time.monotonic() > deadline:
                raise RuntimeError("the case topics were not deleted")
            time.sleep(0.2)
    finally:
        admin.close()


@dataclass
class Workers:
    home: Path
    bootstrap: str
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start_all(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for name in SERVICES:
            with (self.logs / f"{name}.log").open("ab") as out:
                self.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "services.cli", "worker", name, "--home", str(self.home),
                     "--bus", f"kafka://{self.bootstrap}", "--sla-check-seconds", "0"],
                    stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        deadline = time.monotonic() + 120
        for name in SERVICES:  # started side by side, waited for in turn
            log = self.logs / f"{name}.log"
            while f"worker {name} ready" not in log.read_text(errors="replace"):
                if self.processes[name].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker {name} did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.05)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes.values()]

    def peak_rss_mb(self) -> dict[str, float]:
        peaks = {}
        for name, process in self.processes.items():
            try:
                for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks[name] = int(line.split()[1]) / 1024
            except OSError:
                pass
        return peaks

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def deployment(bootstrap: str, tmp: Path) -> Iterator[tuple[Workers, BusRuntime, SettableClock]]:
    """Fresh topics, a fresh home with the policies and reviewers, four running workers,
    and the CLI's runtime on them. Call it holding the bus lock."""
    root = Path(tempfile.mkdtemp(prefix="bench-b1-", dir=tmp))
    home, logs = root / "home", root / "logs"
    home.mkdir()
    logs.mkdir()
    reset_bus(bootstrap)
    settings = parse_bus(f"kafka://{bootstrap}")
    ensure_topics(settings)
    workers = Workers(home, bootstrap, logs)
    rt: BusRuntime | None = None
    try:
        workers.start_all()
        clock = SettableClock(embedded.START)
        rt = BusRuntime(home, settings, clock, settle_timeout=300)
        plan = embedded.make_workload(0)
        rt.command(lambda: rt.intake.load_policies(parse_register(plan.register_json),  # type: ignore[union-attr]
                                                   ctx(clock, "user:case_handler")))
        rt.command(lambda: rt.review.register_reviewers(parse_reviewers(plan.reviewers_json),  # type: ignore[union-attr]
                                                        ctx(clock, "user:case_handler")))
        yield workers, rt, clock
    finally:
        if rt is not None:
            rt.close()
        workers.stop()
        shutil.rmtree(root, ignore_errors=True)


def ctx(clock: SettableClock, actor: str) -> Ctx:
    return Ctx(actor=actor, now=clock.now())


def stored(rt: BusRuntime) -> int:
    return sum(app.recorder.max_notification_id() or 0 for app in rt.services.values())


# -- A: the cases in bursts -------------------------------------------------------------------

def drive(rt: BusRuntime, clock: SettableClock, work: embedded.Workload) -> list[UUID]:
    """Every case's next step, then one wait for the workers; seven steps."""
    records, review, reporting = rt.records, rt.review, rt.reporting
    ids: list[UUID] = []
    for plan in work.cases:
        c = ctx(clock, "user:case_handler")
        ids.append(retrying(lambda p=plan, c=c: rt.intake.open_case(  # type: ignore[misc]
            parse_case_request(p.request_json, c.today), c)).case_id)
    rt.pump()
    third_party = {case_id for case_id, plan in zip(ids, work.cases, strict=True) if plan.third_party}
    steps: list[tuple[Any, tuple[Any, ...], str, bool]] = [
        (records.grant_consent, ("records_access", "portal"), "member", False),
        (records.add_record, ("imaging", "Hospital radiology"), "user:case_handler", False),
        (records.complete_records, (), "user:case_handler", False),
        (records.grant_consent, ("third_party_disclosure", "portal"), "member", True),
    ]
    for command, args, actor, only_third_party in steps:
        for case_id in ids:
            if not only_third_party or case_id in third_party:
                retrying(lambda c=command, i=case_id, a=args, who=actor: c(i, *a, ctx(clock, who)))  # type: ignore[misc]
        rt.pump()
    for case_id in ids:
        assigned = (reporting.case_state(case_id)["review"] or {}).get("reviewer") or "Network expert"
        retrying(lambda i=case_id, who=assigned: review.submit_opinion(  # type: ignore[misc]
            i, "confirmed", "Agree with the proposed repair", who, ctx(clock, "reviewer")))
    rt.pump()
    for case_id in ids:
        retrying(lambda i=case_id: reporting.deliver_report(i, ctx(clock, "user:case_handler")))  # type: ignore[misc]
    rt.pump()
    return ids


def topic_messages(bootstrap: str) -> tuple[Message, ...]:
    """Every record on the four case topics, as the relays sent them (untimed)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    messages: list[Message] = []
    try:
        for service in SERVICES:
            topic = case_topic(service)
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            ends = consumer.end_offsets(partitions)
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            remaining = {tp for tp in partitions if ends[tp] > 0}
            while remaining:
                for tp, batch in consumer.poll(timeout_ms=500).items():
                    messages += [Message(service, m.key, m.value, list(m.headers)) for m in batch
                                 if m.offset < ends[tp]]
                    if consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
    finally:
        consumer.close()
    return tuple(messages)


@dataclass
class Captured:
    messages: tuple[Message, ...] = ()
    partitions: int = 1


def run_a(work: embedded.Workload, bootstrap: str, tmp: Path, captured: Captured) -> Sample:
    with deployment(bootstrap, tmp) as (workers, rt, clock):
        before = stored(rt)
        pids = broker_pids()
        workers_before = process_cpu_s(workers.pids)
        ids: list[UUID] = []
        settle()
        try:
            phase = timed("commands+pipeline", lambda: ids.extend(drive(rt, clock, work)), pids)
        finally:
            unsettle()
        workers_after = process_cpu_s(workers.pids)
        phase.events = stored(rt) - before
        for case_id in ids:  # untimed: the views hold every case, delivered
            status = rt.reporting.case_state(case_id)["status"]
            if status != "report_issued":
                raise RuntimeError(f"case {case_id} ended {status!r}, not 'report_issued'")
        # The setup's records (policies, reviewers) went out before the clock started.
        captured.messages = tuple(m for m in topic_messages(bootstrap)
                                  if dict(m.headers).get("type") not in SETUP_TYPES)
        captured.partitions = rt.settings.partitions
        if len(captured.messages) != phase.events:
            raise RuntimeError(f"{phase.events} events stored, {len(captured.messages)} on the topics")
        worker_cpu = (workers_after - workers_before
                      if workers_before is not None and workers_after is not None else None)
        return Sample("four workers (processes) + BusRuntime commands", len(ids), [phase], {
            "workers_cpu_s": worker_cpu,
            "workers_cpu_us_per_event": worker_cpu * 1e6 / phase.events if worker_cpu else None,
            "workers_peak_rss_mb": workers.peak_rss_mb(), "driver_peak_rss_mb": peak_rss_mb(),
            "messages_on_topics": len(captured.messages), "partitions": captured.partitions})


# -- B: raw confluent-kafka ---------------------------------------------------------------------

def confluent_config(settings: KafkaSettings) -> dict[str, Any]:
    return {"bootstrap.servers": settings.bootstrap, "linger.ms": settings.linger_ms,
            "batch.size": settings.batch_size, "acks": "all",
            "enable.idempotence": settings.enable_idempotence, "compression.type": "none"}


def run_confluent(messages: tuple[Message, ...], settings: KafkaSettings, tag: str, cases: int) -> Sample:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka import TopicPartition as CTopicPartition

    services = list(dict.fromkeys(m.service for m in messages))
    topics = {s: f"bench-b1-{tag}-{s}" for s in services}
    fresh_topics(settings, list(topics.values()))
    producer = Producer(confluent_config(settings))
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": f"bench-b1-{tag}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "fetch.wait.max.ms": settings.fetch_max_wait_ms})
    pids = broker_pids()
    try:
        for topic in topics.values():  # producer id and metadata paid before the clock
            producer.produce(topic, key=b"prime", value=b"{}")
        producer.flush(30)
        assigned = []
        for topic in topics.values():
            meta = consumer.list_topics(topic, timeout=30).topics[topic]
            for p in meta.partitions:
                _, high = consumer.get_watermark_offsets(CTopicPartition(topic, p), timeout=30)
                assigned.append(CTopicPartition(topic, p, high))
        consumer.assign(assigned)
        expected = len(messages)

        def produce() -> int:
            for m in messages:
                while True:
                    try:
                        producer.produce(topics[m.service], key=m.key, value=m.value, headers=m.headers)
                        break
                    except BufferError:  # the local queue is full: let it drain
                        producer.poll(0.01)
            producer.flush(60)
            return expected

        def consume() -> int:
            got, deadline = 0, time.monotonic() + settings.timeout_s
            while got < expected:
                # Never ask for more than is left: consume() waits out its timeout for a
                # batch it cannot fill, which would add 0.5 s to the last one.
                for m in consumer.consume(num_messages=min(500, expected - got), timeout=0.5):
                    if m.error() is None:
                        got += 1
                if time.monotonic() > deadline:
                    raise TimeoutError(f"consumed {got} of {expected}")
            return got

        settle()
        try:
            sent = timed("produce", produce, pids)
            got = timed("consume", consume, pids)
        finally:
            unsettle()
    finally:
        producer.flush(10)
        consumer.close()
        drop_topics(settings, list(topics.values()))
    return Sample("raw confluent-kafka", cases, [sent, got])


def run_kafka_python(messages: tuple[Message, ...], settings: KafkaSettings, tag: str,
                     cases: int) -> Sample:
    work = Workload(messages, cases, 1, None)  # type: ignore[arg-type]  # run_raw reads no source
    return run_raw(work, settings, f"b1-{tag}")


def run(ctx_: Context) -> list[dict[str, Any]]:
    sink = ctx_.sink("B1")
    try:
        down = reachable(ctx_.bootstrap)
        if down:
            summary = {"type": "summary", "bench": "B1", "skipped": f"broker unreachable: {down}"}
            sink.write(summary)
            return [summary]
        cases = ctx_.cases(100, 3)
        work = embedded.make_workload(cases)
        captured = Captured()
        tag = ctx_.stamp.lower()

        def settings() -> KafkaSettings:
            return KafkaSettings(bootstrap=ctx_.bootstrap, partitions=captured.partitions)

        print("B1: waiting for the Kafka test lock (the workers use the cases.* topics)...",
              file=sys.stderr)
        with ctx_.hold_bus():
            try:
                summary = run_pairs(
                    "B1 pipeline", lambda _: run_a(work, ctx_.bootstrap, ctx_.tmp_dir, captured),
                    lambda i: run_confluent(captured.messages, settings(), f"{tag}-{i}", cases),
                    side_b2=lambda i: run_kafka_python(captured.messages, settings(), f"{tag}-{i}", cases),
                    b2_label="raw kafka-python", pairs=ctx_.pairs, warmup=ctx_.warmup, sink=sink,
                    notes={"goal": GOAL, "cases": cases,
                           "a_method": "four `cases worker` processes; BusRuntime commands in "
                                       "bursts, pump() after each step",
                           "b_method": "confluent-kafka produce of the topics' records, flush, "
                                       "consume (assigned)"})
            finally:
                reset_bus(ctx_.bootstrap)  # leave the case topics as a test expects: none
        return [summary]
    finally:
        sink.close()


