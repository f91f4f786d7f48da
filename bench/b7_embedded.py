"""B7: cases through the embedded runtime (A) against raw eventsourcing appends of the
events it recorded, in the same transactions (B). The workload and both sides are in
bench/embedded.py; this module sizes and runs them."""

from __future__ import annotations

import sys
from typing import Any

from bench import embedded
from bench.protocol import run_pairs
from bench.suite import Context

GOAL = 0.5
B_METHOD = ("replay of every insert_events call captured from an untimed run of A: same "
            "rows, same transaction grouping (one per aggregate save or processed upstream "
            "event), tracking rows included; ReportingRecorder's view rows are service work "
            "and are not replayed")


def run(ctx: Context) -> list[dict[str, Any]]:
    cases = ctx.cases(100, 5)
    work = embedded.make_workload(cases)
    print(f"capturing {cases} cases through the embedded runtime (untimed)...", file=sys.stderr)
    recorded = embedded.capture(work, ctx.tmp_dir)
    sink = ctx.sink("embedded")
    try:
        summary = run_pairs(
            "B7 embedded",
            lambda _: embedded.run_service(work, ctx.tmp_dir),
            lambda _: embedded.run_raw(recorded, ctx.tmp_dir),
            pairs=ctx.pairs, warmup=ctx.warmup, sink=sink,
            notes={"workload": recorded.describe(), "b_method": B_METHOD, "goal": GOAL},
        )
    finally:
        sink.close()
    return [summary]
