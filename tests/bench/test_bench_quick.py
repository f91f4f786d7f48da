"""`make bench-quick`: every benchmark B1..B8 runs at toy size and its work is right.

Only the work is checked (cases delivered, counts equal on both sides, views rebuilt),
never a speed: the numbers of a smoke run on a shared machine mean nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.kafka_support import ROOT, kafka_bootstrap
from tests.stores import PG_DSN


def records(results: Path, name: str) -> list[dict[str, Any]]:
    paths = list(results.glob(f"*-{name}-quick.jsonl"))
    assert len(paths) == 1, f"{name}: {paths}"
    return [json.loads(line) for line in paths[0].read_text().splitlines()]


def pairs(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["type"] == "pair"]


def summaries(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = [line for line in lines if line["type"] == "summary"]
    for summary in found:
        assert not summary.get("failed") and not summary.get("skipped"), summary
    return found


def test_every_benchmark_runs_and_does_its_work(tmp_path: Path) -> None:
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("BENCH_SIZE", None)
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--results-dir", str(results),
         "--tmp-dir", str(tmp_path), "--bootstrap", kafka_bootstrap(), "--pg-dsn", PG_DSN],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    assert "| Benchmark |" in done.stdout  # the README's table, ready to paste

    # B1: the workers delivered every case (checked inside), and both baselines moved
    # exactly the records found on the case topics.
    lines = records(results, "B1")
    assert len(summaries(lines)) == 1
    for pair in pairs(lines):
        assert pair["a"]["cases"] == 3 and pair["a"]["events"] > 0
        assert pair["b"]["events"] == pair["b2"]["events"] == pair["a"]["messages_on_topics"]

    # B2: every opened case reached reporting's views; every raw message arrived.
    lines = records(results, "B2")
    summaries(lines)
    for pair in pairs(lines):
        assert pair["a"]["n"] == pair["a"]["cases"] > 0
        assert pair["b"]["n"] == pair["b"]["messages"] > 0

    # B3: both sides wrote the same number of events in every series, PostgreSQL included.
    lines = records(results, "B3")
    assert {s["series"] for s in summaries(lines)} == {"sqlite-1", "sqlite-100", "pg-4w"}
    for pair in pairs(lines):
        assert pair["a"]["events"] == pair["b"]["events"] > 0

    # B4: the rebuild (equal to the live views, checked inside) read every event the raw
    # read did, from the stores and from the topics; from the stores, so did the raw read
    # that also writes the trail (the write floor).
    lines = records(results, "B4")
    assert {s["series"] for s in summaries(lines)} == {"stores", "command", "stores-drifted", "topics"}
    for pair in pairs(lines):
        assert pair["a"]["events"] == pair["b"]["events"] > 0
        assert pair["a"]["rebuilt_cases"] == pair["a"]["cases"] == 10
    # Equal views are only checked; drifted ones (one difference, checked inside) rewritten.
    assert {pair["a"]["label"]: pair["a"]["rewritten"] for pair in pairs(lines)} == {
        "cases rebuild": False, "cases rebuild, a fresh process": False,
        "cases rebuild, views drifted": True}
    # From the stores, the second baselines (the write floor; stdlib json in a fresh
    # process) read what the first did.
    from_stores = [pair for pair in pairs(lines) if "b2" in pair]
    assert len(from_stores) == 3
    assert all(pair["b2"]["events"] == pair["b"]["events"] for pair in from_stores)

    # B5: the replay read the same events as the raw select, at both sizes.
    lines = records(results, "B5")
    assert len(summaries(lines)) == 3  # two sizes and the flatness
    for pair in pairs(lines):
        assert pair["a"]["events_read"] == pair["b"]["events_read"] > 0

    # B6: the faust agent and the raw loop folded every message.
    lines = records(results, "B6")
    (summary,) = summaries(lines)
    for pair in pairs(lines):
        assert pair["a"]["events"] == pair["b"]["events"] == summary["messages"]

    # B7 and B8 check their own work (cases delivered; each command's output).
    assert len(summaries(records(results, "embedded"))) == 1
    assert {s["label"] for s in summaries(records(results, "startup"))} == {
        "cases --help", "cases sla due", "cases show"}

    # Each benchmark ran in a process of its own (what one leaves behind cannot slow or
    # stall the next), and the run's table still gathered every one of them.
    names = ["B1", "B2", "B3", "B4", "B5", "B6", "embedded", "startup"]
    pids = {name: {line["pid"] for line in records(results, name)} for name in names}
    assert all(len(p) == 1 for p in pids.values()), pids
    assert len(set.union(*pids.values())) == len(names), pids
    for row in ("| B1 pipeline |", "| B3 pg-4w |", "| B6 faust |", "| B8 startup cases show |"):
        assert row in done.stdout, row
