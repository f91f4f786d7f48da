"""The in-process Kafka benchmark (not in the default set): the project's outbox relays
and reporting's consumer in this process (A) against raw kafka-python produce + consume of
the same records (B). See bench/kafka_pipeline.py and bench/kafka_raw.py."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Any

from bench import kafka_raw, kafka_source
from bench.protocol import run_pairs
from bench.suite import Context

A_METHOD = ("OutboxRelay.publish_pending of intake, records and review from fresh copies "
            "of the source stores, then a fresh reporting consumes all three topics with "
            "ServiceConsumer.poll_once")
B_METHOD = ("kafka-python send of the same records (key, value, headers) to the same "
            "topic layout, one flush, then poll() consume-and-discard; no group, no commits")


def run(ctx: Context) -> list[dict[str, Any]]:
    settings = kafka_raw.KafkaSettings(bootstrap=ctx.bootstrap)
    sink = ctx.sink("kafka")
    try:
        down = kafka_raw.reachable(settings.bootstrap)
        if down:
            summary = {"type": "summary", "bench": "kafka", "skipped": f"broker unreachable: {down}"}
            sink.write(summary)
            return [summary]
        cases = ctx.cases(1000, 10)
        print(f"preparing the Kafka source: {cases} cases (untimed)...", file=sys.stderr)
        with kafka_source.prepared(cases, ctx.tmp_dir) as source:
            work = kafka_raw.make_workload(source, 1, ctx.tmp_dir)
            pipeline = kafka_raw.pipeline_side()
            tag = ctx.stamp.lower()
            side_a = (lambda i: pipeline(work, settings, f"{tag}-a{i}")) if pipeline else None
            return [run_pairs("kafka in-process", side_a,
                              lambda i: kafka_raw.run_raw(work, settings, f"{tag}-b{i}"),
                              pairs=ctx.pairs, warmup=ctx.warmup, sink=sink,
                              notes={"settings": asdict(settings), "workload": work.describe(),
                                     "a_method": A_METHOD, "b_method": B_METHOD, "goal": None})]
    finally:
        sink.close()
