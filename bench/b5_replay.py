"""B5: single-case replay latency (A) against a raw indexed select of the same rows (B),
with 10,000 events in the stores and with a large number (1M at full size).

A is what `cases replay CASE` does before presenting: `replay.case_events` (every
store's `select_events` for the case's stream, each row decoded to its pydantic event,
sorted by causal order) and the fold of the case's state over them, as `replay` folds
them (`fold_forward`: they are in causal order already). B opens the same four SQLite
files with plain `sqlite3` and runs `SELECT ... FROM stored_events WHERE originator_id = ?
ORDER BY originator_version` (the primary key's index) and `orjson.loads` of each state.

The large stores are the source home's rows copied onto fresh stream ids with raw
inserts (untimed): every query still asks for one of the source's real cases. Per
sample, every source case is replayed in a shuffled order and the p99 is taken. Goals:
A's p99 at most 2x B's, and A's p99 at the large size at most 1.25x its p99 at 10k.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson

from bench.latency import run_latency_pairs
from bench.protocol import settle, unsettle
from bench.suite import Context
from services.bootstrap import SERVICES, EmbeddedRuntime
from services.reporting.projections.case_state import fold_forward
from services.reporting.replay import case_events

GOAL = 2.0
FLATNESS_GOAL = 1.25


def grow(home: Path, total_events: int) -> int:
    """Copy the stores' rows onto fresh stream ids until they hold about `total_events`."""
    counts = {}
    for service in SERVICES:
        with sqlite3.connect(home / f"{service}.sqlite") as db:
            counts[service] = db.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0]
    base = sum(counts.values())
    rounds = max(0, round((total_events - base) / max(base, 1)))
    for service in SERVICES:
        with sqlite3.connect(home / f"{service}.sqlite") as db:
            rows = db.execute("SELECT originator_id, originator_version, topic, state"
                              " FROM stored_events ORDER BY rowid").fetchall()
            for _ in range(rounds):
                ids: dict[str, str] = {}
                db.executemany("INSERT INTO stored_events VALUES (?, ?, ?, ?)",
                               [(ids.setdefault(o, uuid.uuid4().hex), v, t, s) for o, v, t, s in rows])
    return base * (rounds + 1)


def case_ids(home: Path) -> list[UUID]:
    rt = EmbeddedRuntime(home)
    try:
        return [UUID(s["case_id"]) for s in rt.reporting.views.all_states()]
    finally:
        rt.close()


def side_a(home: Path, cases: list[UUID], seed: int) -> tuple[list[float], dict[str, Any]]:
    rt = EmbeddedRuntime(home)
    services = rt.services
    order = cases[:]
    random.Random(seed).shuffle(order)
    times, events = [], 0
    try:
        settle()
        try:
            for case_id in order:
                start = time.perf_counter()
                found = case_events(services, case_id)
                fold_forward({}, found)  # as replay folds: case_events gives causal order
                times.append((time.perf_counter() - start) * 1000)
                events += len(found)
        finally:
            unsettle()
    finally:
        rt.close()
    if events == 0:
        raise RuntimeError("replay found no events")
    return times, {"events_read": events, "label": "replay.case_events + fold"}


def side_b(home: Path, cases: list[UUID], seed: int) -> tuple[list[float], dict[str, Any]]:
    dbs = [sqlite3.connect(f"file:{home / f'{s}.sqlite'}?mode=ro", uri=True) for s in SERVICES]
    order = cases[:]
    random.Random(seed).shuffle(order)
    times, events = [], 0
    try:
        settle()
        try:
            for case_id in order:
                start = time.perf_counter()
                key = case_id.hex  # eventsourcing keeps SQLite stream ids as hex
                for db in dbs:
                    for row in db.execute("SELECT originator_version, topic, state FROM stored_events"
                                          " WHERE originator_id = ? ORDER BY originator_version",
                                          (key,)):
                        orjson.loads(row[2])
                        events += 1
                times.append((time.perf_counter() - start) * 1000)
        finally:
            unsettle()
    finally:
        for db in dbs:
            db.close()
    return times, {"events_read": events, "label": "raw sqlite3 indexed select + orjson"}


def run(ctx: Context) -> list[dict[str, Any]]:
    cases = ctx.cases(300, 10)
    source = ctx.source_home(cases)
    ids = case_ids(source)
    sizes = {"10k": 10_000, "large": 20_000 if ctx.quick else 1_000_000}
    summaries = []
    sink = ctx.sink("B5")
    root = Path(tempfile.mkdtemp(prefix="bench-b5-", dir=ctx.tmp_dir))
    try:
        homes = {}
        for name, total in sizes.items():
            home = homes[name] = root / name
            shutil.copytree(source, home)
            print(f"B5: growing the stores to about {total:,} events (untimed)...", file=sys.stderr)
            held = grow(home, total)
            summaries.append(run_latency_pairs(
                f"B5 replay {name}",
                lambda i, h=home: side_a(h, ids, i), lambda i, h=home: side_b(h, ids, i),
                pairs=ctx.pairs, warmup=ctx.warmup, sink=sink,
                notes={"series": name, "stored_events": held, "queries_per_sample": len(ids),
                       "goal": GOAL, "title": f"B5 replay p99 at {held:,} events"}))
        # Flatness: A on the large stores against A on the 10k ones, alternated pair by pair
        # like any A/B (the two series above ran minutes apart: on a VM whose speed drifts,
        # the ratio of their medians measured the drift as much as the size).
        summaries.append(run_latency_pairs(
            "B5 flatness",
            lambda i: side_a(homes["large"], ids, i), lambda i: side_a(homes["10k"], ids, i),
            pairs=ctx.pairs, warmup=ctx.warmup, sink=sink,
            notes={"goal": FLATNESS_GOAL, "title": "B5 flatness: A p99 large / A p99 10k"}))
    finally:
        sink.close()
        shutil.rmtree(root, ignore_errors=True)
    return summaries
