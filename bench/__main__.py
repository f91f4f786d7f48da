"""`python -m bench [B1 ... B8] [--quick] [--pairs N] [--size CASES]`: run and record.

With no name, every benchmark B1..B8 runs. `--quick` is the smoke size (`make
bench-quick`); BENCH_SIZE (cases) or --size sets the full size. Results go to
bench/results/<stamp>-<name>[-quick].jsonl; the end prints the tables and the README's
table ready to paste (also written to bench/results/<stamp>-table.md on full runs).

Two or more benchmarks run one after another, each in a fresh process of its own (`run_apart`):
what one leaves behind (a heap of a million events, forked shares, a faust app's threads
and loop state) cannot slow or stall the next, and each records its own peak memory.
They share the run's stamp, the source homes built so far and the summaries so far (B2
paces itself at half of B1's rate) through a hand-off file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
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
    # Set by run_apart for the process it starts for one benchmark: not for people.
    parser.add_argument("--stamp", help=argparse.SUPPRESS)
    parser.add_argument("--handoff", type=Path, help=argparse.SUPPRESS)
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
    stamp = args.stamp or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1) and args.handoff is None:
        # Ratios survive some noise (both sides share it), absolute rates do not.
        print(f"warning: load average {load:.1f} on {os.cpu_count()} CPUs; "
              "something else is running, expect noisy numbers", file=sys.stderr)
    if len(args.names) > 1:
        summaries, paths, failed = run_apart(args, stamp)
    else:
        summaries, paths, failed = run_here(args, stamp)
    if args.handoff is not None:
        return 1 if failed else 0  # the process that started this one reports
    from bench.readme_table import markdown

    print(table(summaries))
    text = markdown(summaries, stamp)
    print("\n" + text)
    if not args.quick:
        (args.results_dir / f"{stamp}-table.md").write_text(text + "\n")
    print("\nresults: " + ", ".join(str(p) for p in paths))
    print(f"total run time: {time.perf_counter() - started:.1f} s")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


Outcome = tuple[list[dict[str, Any]], list[Path], list[str]]


def run_apart(args: argparse.Namespace, stamp: str) -> Outcome:
    """Each benchmark in a process of its own, one after another. The source homes they
    build are kept for the later ones and removed at the end."""
    handoff = Path(tempfile.mkstemp(prefix=f"bench-{stamp}-", suffix=".json", dir=args.tmp_dir)[1])
    state: dict[str, Any] = {"summaries": [], "paths": [], "sources": {}}
    failed: list[str] = []
    options = ["--pairs", str(args.pairs), "--warmup", str(args.warmup),
               "--tmp-dir", str(args.tmp_dir), "--results-dir", str(args.results_dir),
               "--pg-dsn", args.pg_dsn, "--stamp", stamp, "--handoff", str(handoff)]
    options += ["--quick"] if args.quick else []
    options += ["--size", str(args.size)] if args.size else []
    options += ["--bootstrap", args.bootstrap] if args.bootstrap else []
    try:
        for name in args.names:
            handoff.write_text(json.dumps(state))
            done = subprocess.run([sys.executable, "-m", "bench", name, *options], check=False)
            if done.returncode != 0:
                failed.append(name)
            after = json.loads(handoff.read_text())
            if done.returncode != 0 and after == state:  # it died before it could hand back
                after["summaries"].append({"type": "summary", "bench": name,
                                           "failed": f"its process ended with {done.returncode}"})
            state = after
    finally:
        for home in state["sources"].values():
            shutil.rmtree(home, ignore_errors=True)
        handoff.unlink(missing_ok=True)
    return state["summaries"], [Path(p) for p in state["paths"]], failed


def run_here(args: argparse.Namespace, stamp: str) -> Outcome:
    """The named benchmarks in this process (one, when run_apart started it)."""
    env = {**environment(args.tmp_dir), "quick": args.quick}
    embedded.force_sqlite()
    from bench.kafka_raw import default_bootstrap

    ctx = Context(quick=args.quick, stamp=stamp, env=env, results_dir=args.results_dir,
                  tmp_dir=args.tmp_dir, pairs=args.pairs, warmup=args.warmup,
                  bootstrap=args.bootstrap or default_bootstrap(), pg_dsn=args.pg_dsn,
                  size=args.size)
    if args.handoff is not None:
        ctx.take_over(json.loads(args.handoff.read_text()))
    failed: list[str] = []
    try:
        for name in args.names:
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
        if args.handoff is not None:
            args.handoff.write_text(json.dumps(ctx.hand_off(), default=str))
        else:
            ctx.close()
    return ctx.summaries, ctx.paths, failed


if __name__ == "__main__":
    sys.exit(main())
