"""Reading topics from offset 0 to where they ended when the read began (replay reads)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition


def read_to_end(consumer: KafkaConsumer, partitions: list[TopicPartition],
                batch: int = 1000) -> Iterator[list[Any]]:
    """The partitions' messages up to their end offsets taken now, a poll's worth at a time."""
    if not partitions:
        return
    ends = consumer.end_offsets(partitions)
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    remaining = {tp for tp in partitions if ends[tp] > 0}
    while remaining:
        for tp, messages in consumer.poll(timeout_ms=500, max_records=batch).items():
            kept = [m for m in messages if m.offset < ends[tp]]
            if kept:
                yield kept
            if consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)
