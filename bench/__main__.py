"""`python -m bench [B1 ... B8] [--quick] [--pairs N] [--size CASES]`: run and record.

With no name, every benchmark B1..B8 runs. `--quick` is the smoke size (`make
bench-quick`); BENCH_SIZE (cases) or --size sets the full size. Results go to
bench/results/<stamp>-<name>[-quick].jsonl; the end prints the tables and the README's
table ready to paste (also written to bench/results/<stamp>-table.md on full runs).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import embedded
from bench.report import table
from bench.suite import PG_DSN, Context
from bench.sysinfo import environment

RESULTS = Path(__file__).resolve().parent / "results"

#: name -> module with `run(ctx) -> list[summary]`.
BENCHMARKS = {
    "B1": "bench.b1_pipeline",
    "B2": "bench.b2_latency",
    "B3": "bench.b3_appends",
    "B4": "bench.b4_rebuild",
    "B5": "bench.b5_replay",
    "B6": "bench.b6_faust",
    "B7": "bench.b7_embedded",
    "B8": "bench.b8_startup",
    # Not in the default set: the in-process relays + reporting consumer against raw
    # kafka-python (the earlier "kafka" benchmark; B1 now runs the real workers).
    "kafka": "bench.k_inprocess",
}
ALIASES = {"embedded": "B7", "startup": "B8"}
DEFAULT = [f"B{i}" for i in range(1, 9)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default B1..B8)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run at toy size, 1 pair, no warm-up (not a measurement)")
    parser.add_argument("--only", help="the same as one NAME (kept for old scripts)")
    parser.add_argument("--pairs", type=int, help="measured A/B pairs after warm-up (default 5)")
    parser.add_argument("--warmup", type=int, help="discarded warm-up pairs (default 1)")
    parser.add_argument("--size", type=int, default=int(os.environ.get("BENCH_SIZE") or 0) or None,
                        help="cases per sample for the sized benchmarks (env BENCH_SIZE)")
    parser.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers "
                        "(default: var/infra/kafka/bootstrap.servers, else 127.0.0.1:9092)")
    parser.add_argument("--pg-dsn", default=os.environ.get("BENCH_PG_DSN", PG_DSN))
    parser.add_argument("--tmp-dir", type=Path, default=Path(tempfile.gettempdir()),
                        help="where fresh per-sample stores go (its disk sets SQLite's fsync cost)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    names = list(args.names) + ([args.only] if args.only else [])
    names = [ALIASES.get(n, n if n in BENCHMARKS else n.upper()) for n in names] or DEFAULT
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    args.names = names
    args.pairs = args.pairs or (1 if args.quick else 5)
    args.warmup = args.warmup if args.warmup is not None else (0 if args.quick else 1)
    if args.pairs < 1 or args.warmup < 0:
        parser.error("--pairs must be >= 1, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    env = {**environment(args.tmp_dir), "quick": args.quick}
    embedded.force_sqlite()
    load = os.getloadavg()[0]
    if load > env["cpu_count"]:
        # Ratios survive some noise (both sides share it), absolute rates do not.
        print(f"warning: load average {load:.1f} on {env['cpu_count']} CPUs; "
              "something else is running, expect noisy numbers", file=sys.stderr)
    from bench.kafka_raw import default_bootstrap

    ctx = Context(quick=args.quick, stamp=stamp, env=env, results_dir=args.results_dir,
                  tmp_dir=args.tmp_dir, pairs=args.pairs, warmup=args.warmup,
                  bootstrap=args.bootstrap or default_bootstrap(), pg_dsn=args.pg_dsn,
                  size=args.size)
    failed: list[str] = []
    # B1 and B2 run the workers on the cases.* topics: one wait for the bus lock for both.
    bus = [n for n in args.names if n in ("B1", "B2")]
    holding = ExitStack()
    try:
        for name in args.names:
            if len(bus) > 1 and name == bus[0]:
                print("waiting for the Kafka test lock (B1/B2 use the cases.* topics)...",
                      file=sys.stderr)
                holding.enter_context(ctx.hold_bus())
            if name not in bus:
                holding.close()
            print(f"== {name} ==", file=sys.stderr)
            begun = time.perf_counter()
            try:
                module: Any = importlib.import_module(BENCHMARKS[name])
                ctx.summaries.extend(module.run(ctx))
            except Exception as error:  # noqa: BLE001 - one broken benchmark must not hide the rest
                failed.append(name)
                ctx.summaries.append({"type": "summary", "bench": name,
                                      "failed": f"{type(error).__name__}: {error}"})
                import traceback

                traceback.print_exc()
            print(f"   {name}: {time.perf_counter() - begun:.1f} s", file=sys.stderr)
    finally:
        holding.close()
        ctx.close()
    from bench.readme_table import markdown

    print(table(ctx.summaries))
    text = markdown(ctx.summaries, stamp)
    print("\n" + text)
    if not args.quick:
        (args.results_dir / f"{stamp}-table.md").write_text(text + "\n")
    print("\nresults: " + ", ".join(str(p) for p in ctx.paths))
    print(f"total run time: {time.perf_counter() - started:.1f} s")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
