"""Real Kafka for the tests: a clean slate of case topics, and the four workers as
separate OS processes (`cases worker NAME`)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from services.bootstrap import SERVICES
from services.runtime.kafka.config import parse_bus
from services.runtime.kafka.topics import ensure_topics

ROOT = Path(__file__).resolve().parents[1]


def kafka_bootstrap() -> str:
    bootstrap = os.environ.get("CASES_TEST_KAFKA", "")
    if not bootstrap:  # never skipped: these tests are the proof that Kafka works
        pytest.fail("no Kafka broker for the tests: run `make test` (it starts one), "
                    "or start one (make kafka-up) and set CASES_TEST_KAFKA=127.0.0.1:9092")
    return bootstrap


def messages_on(bootstrap: str, topics: list[str]) -> int:
    """How many messages `topics` hold (their partitions' end offsets, summed)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for topic in topics
                      for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def reset_bus(bootstrap: str) -> None:
    """Delete the case topics and consumer groups left by earlier tests."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cases-tests")
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
                raise AssertionError("topics were not deleted")
            time.sleep(0.2)
    finally:
        admin.close()


class Workers:
    """The four services, each its own process, sharing the stores under one home."""

    def __init__(self, home: Path, bootstrap: str, logs: Path, env: dict[str, str] | None = None):
        self.home, self.bootstrap, self.logs = home, bootstrap, logs
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, env: dict[str, str] | None = None, key: str | None = None) -> None:
        """Start service `name`'s worker; `key` names this instance (default: the service)
        when a test runs several, and `env` adds variables for this process only."""
        key = key or name
        log = self.logs / f"{key}.log"
        seen = log.read_text(errors="replace").count(f"worker {name} ready") if log.exists() else 0
        with log.open("ab") as out:
            self.processes[key] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "worker", name, "--home", str(self.home),
                 "--bus", f"kafka://{self.bootstrap}", "--sla-check-seconds", "0"],
                stdout=out, stderr=subprocess.STDOUT, env={**self.env, **(env or {})}, cwd=ROOT)
        self.wait_ready(key, service=name, seen=seen)

    def wait_ready(self, name: str, timeout: float = 90, service: str | None = None,
                   seen: int = 0) -> None:
        """Until the worker logs that it is ready (`seen`: ready lines already in its log)."""
        log = self.logs / f"{name}.log"
        marker = f"worker {service or name} ready"
        deadline = time.monotonic() + timeout
        while log.read_text(errors="replace").count(marker) <= seen:
            if self.processes[name].poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker {name} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)

    def kill(self, name: str) -> None:
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def exclusive_bus() -> Iterator[None]:
    """One test session at a time owns the case topics on the shared broker (one lock per
    broker: a session pointed at a private broker does not wait for the shared one)."""
    bootstrap = os.environ.get("CASES_TEST_KAFKA", "127.0.0.1:9092")
    suffix = "" if bootstrap == "127.0.0.1:9092" else "-" + bootstrap.replace(":", "_").replace(",", "+")
    with open(f"/tmp/cases-kafka-tests{suffix}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def running_workers(home: Path, bootstrap: str, logs: Path,
                    env: dict[str, str] | None = None) -> Iterator[Workers]:
    with exclusive_bus(), _running_workers(home, bootstrap, logs, env) as workers:
        yield workers


@contextmanager
def _running_workers(home: Path, bootstrap: str, logs: Path,
                     env: dict[str, str] | None = None) -> Iterator[Workers]:
    reset_bus(bootstrap)
    ensure_topics(parse_bus(f"kafka://{bootstrap}"))
    logs.mkdir(parents=True, exist_ok=True)
    workers = Workers(home, bootstrap, logs, env)
    try:
        for name in SERVICES:
            workers.start(name)
        yield workers
    finally:
        workers.stop()
