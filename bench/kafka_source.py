"""Benchmark 2's input, shared by both sides: a prepared CASES home whose stores hold
the events, and the exact Kafka records the project's outbox relays make of them.

Side A republishes the stores through the real `OutboxRelay`s (from a fresh copy of
the home per sample). Side B sends the records captured here. They are captured by
running those same relays once, untimed, against a producer stub that only records
what it is given. So B's key, value and headers are, byte for byte, what A's relays
send.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import embedded
from services.bootstrap import EmbeddedRuntime, build_service, leaders_of
from services.common.context import SettableClock
from services.runtime.kafka.outbox import OutboxRelay, relay_name

#: The services whose topics the consumer under test (reporting) reads: its leaders.
CONSUMER = "reporting"
PUBLISHERS: tuple[str, ...] = tuple(leaders_of(CONSUMER))  # intake, records, review


@dataclass(frozen=True)
class Message:
    """One Kafka record as a relay sends it; `service` names the topic it goes to."""

    service: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]

    @property
    def size(self) -> int:
        return len(self.key) + len(self.value) + sum(len(k) + len(v) for k, v in self.headers)


@dataclass(frozen=True)
class Source:
    """A home holding `cases` delivered cases in its four SQLite stores."""

    home: Path
    cases: int
    stored_events: dict[str, int]  # per service, setup events included


def run_cases(home: Path, cases: int) -> dict[str, int]:
    """`cases` cases end to end through the embedded runtime, as benchmark 1's side A
    drives them (same requests, policies and reviewers). Returns the events per store."""
    plan = embedded.make_workload(cases)
    clock = SettableClock(embedded.START)
    rt = EmbeddedRuntime(home, clock)
    try:
        embedded._setup(rt, clock, plan)
        embedded.check_delivered(rt, embedded.drive(rt, clock, plan))
        return {name: app.recorder.max_notification_id() or 0 for name, app in rt.services.items()}
    finally:
        rt.close()


@contextmanager
def prepared(cases: int, tmp_root: Path) -> Iterator[Source]:
    """Untimed: build the source home once per run; removed when the benchmark is done."""
    home = Path(tempfile.mkdtemp(prefix="bench-kafka-source-", dir=tmp_root))
    try:
        yield Source(home, cases, run_cases(home, cases))
    finally:
        shutil.rmtree(home, ignore_errors=True)


def copy_stores(source: Path, target: Path, services: tuple[str, ...] = PUBLISHERS) -> None:
    """A fresh copy of the publishers' stores (and the deployment key): the relays record
    their positions in these stores, so every sample must start from an unpublished copy."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "deployment.key", target / "deployment.key")
    for service in services:
        for path in source.glob(f"{service}.sqlite*"):  # -wal/-shm too, if any were left
            shutil.copy2(path, target / path.name)


def bench_relay(app: Any, producer: Any, topic: str) -> OutboxRelay:
    """The project's relay, pointed at a benchmark topic instead of `cases.<service>.v1`
    (`topic` and `name` are plain attributes set in its constructor)."""
    relay = OutboxRelay(app, producer)
    relay.topic = topic
    relay.name = relay_name(topic)
    return relay


class _Done:
    def get(self, timeout: float | None = None) -> None:
        return None


class RecordingProducer:
    """Stands in for KafkaProducer: records each send, acknowledges at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = []

    def send(self, topic: str, key: bytes, value: bytes,
             headers: list[tuple[str, bytes]]) -> _Done:
        self.sent.append((topic, key, value, list(headers)))
        return _Done()

    def flush(self, timeout: float | None = None) -> None:
        return None


def relay_messages(source: Source, tmp_root: Path) -> tuple[Message, ...]:
    """Every record the publishers' relays send from `source`, in the order they send it
    (service by service, as side A publishes): run the real relays over a scratch copy."""
    messages: list[Message] = []
    with embedded.scratch(tmp_root, "bench-kafka-capture-") as home:
        copy_stores(source.home, home)
        clock = SettableClock(embedded.START)
        for service in PUBLISHERS:
            app = build_service(service, home, clock)
            try:
                producer = RecordingProducer()
                relay = bench_relay(app, producer, service)
                while relay.publish_pending():
                    pass
                messages += [Message(topic, key, value, headers)
                             for topic, key, value, headers in producer.sent]
                if len(producer.sent) != source.stored_events[service]:
                    raise RuntimeError(f"{service}: the relay sent {len(producer.sent)} of "
                                       f"{source.stored_events[service]} stored events")
            finally:
                app.close()
    return tuple(messages)
