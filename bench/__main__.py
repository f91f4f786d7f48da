"""`python -m bench [--quick] [--only embedded|kafka|startup] [--pairs N] [--cases N]`: run and
record."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import embedded, kafka_raw, kafka_source, startup
from bench.protocol import ResultFile, run_pairs
from bench.report import table
from bench.sysinfo import environment

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 10 cases, 2 pairs, Kafka on 10 cases, 2 launches per "
                             "startup sample (not a measurement)")
    parser.add_argument("--only", choices=("embedded", "kafka", "startup"),
                        help="run one benchmark")
    parser.add_argument("--pairs", type=int, help="measured A/B pairs after warm-up (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="discarded warm-up pairs (default 1)")
    parser.add_argument("--cases", type=int, help="cases per sample (default 100)")
    parser.add_argument("--kafka-copies", type=int,
                        help="the Kafka workload holds --cases x this many distinct cases "
                             "(default 10)")
    parser.add_argument("--launches", type=int,
                        help="startup (B8): subprocess launches per sample, each sample is "
                             "their mean (default 10)")
    parser.add_argument("--partitions", type=int, default=1,
                        help="Kafka topic partitions (default 1)")
    parser.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers "
                        "(default: var/infra/kafka/bootstrap.servers, else 127.0.0.1:9092)")
    parser.add_argument("--tmp-dir", type=Path, default=Path(tempfile.gettempdir()),
                        help="where fresh per-sample stores go (its disk sets SQLite's fsync cost)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    quick = args.quick
    args.pairs = args.pairs or (2 if quick else 5)
    args.cases = args.cases or (10 if quick else 100)
    args.kafka_copies = args.kafka_copies or (1 if quick else 10)
    args.launches = args.launches or (2 if quick else 10)
    if (args.pairs < 1 or args.cases < 1 or args.kafka_copies < 1 or args.launches < 1
            or args.warmup < 0):
        parser.error("--pairs, --cases, --kafka-copies and --launches must be >= 1, "
                     "--warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = "-quick" if args.quick else ""
    env = {**environment(args.tmp_dir), "quick": args.quick}
    embedded.force_sqlite()
    load = os.getloadavg()[0]
    if load > env["cpu_count"]:
        # Ratios survive some noise (both sides share it), absolute rates do not.
        print(f"warning: load average {load:.1f} on {env['cpu_count']} CPUs; "
              "something else is running, expect noisy numbers", file=sys.stderr)

    summaries: list[dict[str, Any]] = []
    paths: list[Path] = []
    if args.only in (None, "embedded"):
        # One untimed run of the service records what the stores were asked to write;
        # B of benchmark 1 replays it.
        work = embedded.make_workload(args.cases)
        print(f"capturing {args.cases} cases through the embedded runtime (untimed)...",
              file=sys.stderr)
        recorded = embedded.capture(work, args.tmp_dir)
        sink = ResultFile(args.results_dir, stamp, f"embedded{suffix}", env)
        summaries.append(run_pairs(
            "embedded",
            lambda _: embedded.run_service(work, args.tmp_dir),
            lambda _: embedded.run_raw(recorded, args.tmp_dir),
            pairs=args.pairs, warmup=args.warmup, sink=sink,
            notes={"workload": recorded.describe(), "b_method": B_METHOD},
        ))
        sink.close()
        paths.append(sink.path)

    skipped_kafka = False
    if args.only in (None, "kafka"):
        sink = ResultFile(args.results_dir, stamp, f"kafka{suffix}", env)
        summaries.append(run_kafka(args, stamp, sink))
        skipped_kafka = bool(summaries[-1].get("skipped"))
        sink.close()
        paths.append(sink.path)

    if args.only in (None, "startup"):
        sink = ResultFile(args.results_dir, stamp, f"startup{suffix}", env)
        summaries.extend(startup.run(args.tmp_dir, pairs=args.pairs, warmup=args.warmup,
                                     launches=args.launches, sink=sink))
        sink.close()
        paths.append(sink.path)

    print(table(summaries))
    print("\nresults: " + ", ".join(str(p) for p in paths))
    print(f"total run time: {time.perf_counter() - started:.1f} s")
    return 2 if skipped_kafka and args.only == "kafka" else 0


B_METHOD = ("replay of every insert_events call captured from an untimed run of A: same "
            "rows, same transaction grouping (one per aggregate save or processed upstream "
            "event), tracking rows included; ReportingRecorder's view rows are service work "
            "and are not replayed")


def run_kafka(args: argparse.Namespace, stamp: str, sink: ResultFile) -> dict[str, Any]:
    settings = kafka_raw.KafkaSettings(bootstrap=args.bootstrap or kafka_raw.default_bootstrap(),
                                       partitions=args.partitions)
    down = kafka_raw.reachable(settings.bootstrap)
    if down:
        summary = {"type": "summary", "bench": "kafka", "skipped": f"broker unreachable: {down}"}
        sink.write(summary)
        print(f"kafka skipped: {down}", file=sys.stderr)
        return summary
    cases = args.cases * args.kafka_copies
    print(f"preparing the Kafka source: {cases} cases through the embedded runtime (untimed)...",
          file=sys.stderr)
    with kafka_source.prepared(cases, args.tmp_dir) as source:
        work = kafka_raw.make_workload(source, args.kafka_copies, args.tmp_dir)
        pipeline = kafka_raw.pipeline_side()
        # Topic names carry the run stamp and pair index: every sample starts on empty topics.
        tag = stamp.lower()
        side_a = (lambda i: pipeline(work, settings, f"{tag}-a{i}")) if pipeline else None
        notes = {
            "settings": asdict(settings),
            "workload": work.describe(),
            "a_side": kafka_raw.PIPELINE_MODULE if pipeline else None,
            "a_method": KAFKA_A_METHOD, "b_method": KAFKA_B_METHOD,
        }
        if not pipeline:
            notes["ratio_note"] = "pipeline pending: raw baseline (B) only"
        return run_pairs("kafka", side_a,
                         lambda i: kafka_raw.run_raw(work, settings, f"{tag}-b{i}"),
                         pairs=args.pairs, warmup=args.warmup, sink=sink, notes=notes)


KAFKA_A_METHOD = ("OutboxRelay.publish_pending of intake, records and review from fresh copies "
                  "of the source stores (map row to pydantic event, encode, headers, send; per "
                  "500: flush, wait on futures, commit the position to SQLite), then a fresh "
                  "reporting consumes all three topics with ServiceConsumer.poll_once (headers, "
                  "orjson+pydantic decode, process_event: reaction + tracking + views in one "
                  "SQLite transaction per record; offset commit per poll)")
KAFKA_B_METHOD = ("kafka-python send of the same records (key, value, headers) to the same "
                  "topic layout, one flush, then poll() consume-and-discard; no group, no commits")


if __name__ == "__main__":
    sys.exit(main())
