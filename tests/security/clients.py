"""kafka-python clients as the project's services and a partner use them, and the two
things a test does with them: publish one message, read a topic from the start."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


@contextmanager
def producer(config: dict[str, Any], **options: Any) -> Iterator[KafkaProducer]:
    made = KafkaProducer(**config, acks="all", max_block_ms=10000, **options)
    try:
        yield made
    finally:
        made.close(timeout=5)


@contextmanager
def consumer(config: dict[str, Any], group: str | None) -> Iterator[KafkaConsumer]:
    made = KafkaConsumer(**config, group_id=group, enable_auto_commit=False,
                         auto_offset_reset="earliest")
    try:
        yield made
    finally:
        made.close()


def publish(made: KafkaProducer, topic: str, value: bytes = b'{"probe": true}') -> None:
    made.send(topic, key=b"probe", value=value).get(timeout=30)


def read_all(made: KafkaConsumer, topic: str) -> list[Any]:
    """Every message of the topic, read from the start by assignment (the way the services'
    workers read): the end offsets (DESCRIBE), then fetches (READ) up to them."""
    partitions = [TopicPartition(topic, p) for p in sorted(made.partitions_for_topic(topic) or {0})]
    made.assign(partitions)
    ends = made.end_offsets(partitions)
    made.seek_to_beginning()
    messages: list[Any] = []
    for _ in range(200):
        if all(made.position(tp) >= ends[tp] for tp in partitions):
            return messages
        for batch in made.poll(timeout_ms=200).values():
            messages.extend(batch)
    raise AssertionError(f"{topic} was not read to its end")


def read_in_group(made: KafkaConsumer, topic: str, expected: int) -> list[Any]:
    """Subscribe in the consumer's group (the way a partner reads), read `expected`
    messages, commit them."""
    made.subscribe([topic])
    messages: list[Any] = []
    for _ in range(300):
        for batch in made.poll(timeout_ms=200).values():
            messages.extend(batch)
        if len(messages) >= expected:
            made.commit()
            return messages
    raise AssertionError(f"read {len(messages)} of {expected} messages from {topic}")
