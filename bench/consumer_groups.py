"""Consumer groups on the real broker: kafka-python's classic group against confluent-kafka
with the new consumer group protocol (KIP-848). The numbers are in bench/consumer-groups.md.

    .venv/bin/python -m bench.consumer_groups --bootstrap 127.0.0.1:9292

Measures, per client, alternating the two clients:
- takeover: two members split a 6-partition topic; one is SIGKILLed; seconds until the
  survivor owns all 6 (what a service's surviving worker does when another dies);
- join: seconds until a third member, started beside a lone member, owns a share;
- throughput: one member of a fresh group reads N keyed messages with headers, committing
  after each batch (the shape of a worker's consume loop without the store).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

TOPIC_PARTITIONS = 6


def member(client: str, bootstrap: str, topic: str, group: str) -> None:
    """A group member that prints its assignment as a JSON line whenever it changes."""
    last: list[int] | None = None
    if client == "kafka-python":
        from kafka import KafkaConsumer
        kp = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                           enable_auto_commit=False, session_timeout_ms=6000,
                           heartbeat_interval_ms=1000, max_poll_interval_ms=60000)
        while True:
            kp.poll(timeout_ms=100)
            now = sorted(tp.partition for tp in kp.assignment())
            if now != last:
                print(json.dumps(now), flush=True)
                last = now
    else:
        from confluent_kafka import Consumer
        ck = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                       "group.protocol": "consumer", "enable.auto.commit": False})
        ck.subscribe([topic])
        while True:
            ck.poll(0.1)
            now = sorted(tp.partition for tp in ck.assignment())
            if now != last:
                print(json.dumps(now), flush=True)
                last = now


class Member:
    def __init__(self, client: str, bootstrap: str, topic: str, group: str):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.consumer_groups", "--member", client,
             "--bootstrap", bootstrap, "--topic", topic, "--group", group],
            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.owned: list[int] = []

    def wait_for(self, predicate: Any, timeout: float = 120.0) -> float:
        started = time.monotonic()
        assert self.process.stdout is not None
        while not predicate(self.owned):
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"assignment stuck at {self.owned}")
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("member exited")
            self.owned = json.loads(line)
        return time.monotonic() - started

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def make_topic(bootstrap: str, messages: int) -> str:
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic
    topic = f"bench.groups.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, TOPIC_PARTITIONS, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    payload = b"x" * 600
    for i in range(messages):
        producer.send(topic, key=str(i % 97).encode(), value=payload,
                      headers=[("type", b"bench"), ("event_id", str(i).encode())])
    producer.flush()
    producer.close()
    return topic


def takeover(client: str, bootstrap: str, topic: str) -> tuple[float, float]:
    group = f"bench-{client}-{uuid.uuid4().hex[:6]}"
    first = Member(client, bootstrap, topic, group)
    first.wait_for(lambda owned: len(owned) == TOPIC_PARTITIONS)
    second = Member(client, bootstrap, topic, group)
    join = second.wait_for(lambda owned: len(owned) > 0)
    first.wait_for(lambda owned: len(owned) < TOPIC_PARTITIONS)
    second.kill()
    taken = first.wait_for(lambda owned: len(owned) == TOPIC_PARTITIONS)
    first.kill()
    return taken, join


def throughput(client: str, bootstrap: str, topic: str, messages: int) -> float:
    group = f"bench-tp-{client}-{uuid.uuid4().hex[:6]}"
    seen = 0
    if client == "kafka-python":
        from kafka import KafkaConsumer
        kp = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                           enable_auto_commit=False, auto_offset_reset="earliest",
                           max_poll_records=500, fetch_max_wait_ms=20)
        started = time.perf_counter()
        while seen < messages:
            for batch in kp.poll(timeout_ms=100).values():
                for message in batch:
                    seen += 1
                    _ = (message.topic, message.partition, message.offset, message.headers)
                kp.commit()
        elapsed = time.perf_counter() - started
        kp.close()
    else:
        from confluent_kafka import Consumer
        ck = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                       "group.protocol": "consumer", "enable.auto.commit": False,
                       "auto.offset.reset": "earliest", "fetch.wait.max.ms": 20})
        ck.subscribe([topic])
        started = time.perf_counter()
        while seen < messages:
            batch = ck.consume(num_messages=500, timeout=0.1)
            for message in batch:
                if message.error():
                    continue
                seen += 1
                _ = (message.topic(), message.partition(), message.offset(), message.headers())
            if batch:
                ck.commit(asynchronous=False)
        elapsed = time.perf_counter() - started
        ck.close()
    return messages / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default="127.0.0.1:9292")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--member")
    parser.add_argument("--topic")
    parser.add_argument("--group")
    args = parser.parse_args()
    if args.member:
        member(args.member, args.bootstrap, args.topic, args.group)
        return
    topic = make_topic(args.bootstrap, args.messages)
    results: dict[str, dict[str, list[float]]] = {}
    for _ in range(args.rounds):
        for client in ("kafka-python", "confluent-kafka"):
            taken, join = takeover(client, args.bootstrap, topic)
            rate = throughput(client, args.bootstrap, topic, args.messages)
            row = results.setdefault(client, {"takeover_s": [], "join_s": [], "msgs_per_s": []})
            row["takeover_s"].append(round(taken, 2))
            row["join_s"].append(round(join, 2))
            row["msgs_per_s"].append(round(rate))
            print(client, row, flush=True)
    for client, row in results.items():
        print(client, {k: statistics.median(v) for k, v in row.items()}, row)


if __name__ == "__main__":
    main()
