"""The common protocol: timed phases, interleaved A/B pairs, median/IQR of ratios, JSONL."""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bench.sysinfo import process_cpu_s


def cpu_s() -> float:
    """User + system CPU of this process (threads included: kafka-python's I/O thread counts)
    and of its children once waited for (the rebuild's forked shards, B8's launches)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class Phase:
    """One timed stretch of a sample: wall and CPU time for a known number of events."""

    name: str
    wall_s: float
    cpu_s: float
    events: int = 0
    broker_cpu_s: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "events": self.events,
            "events_per_s": per(self.events, self.wall_s),
            "cpu_us_per_event": micros_per(self.cpu_s, self.events),
            "broker_cpu_s": self.broker_cpu_s,
            "broker_cpu_us_per_event": micros_per(self.broker_cpu_s, self.events),
        }


def timed(name: str, work: Callable[[], int | None], broker_pids: Sequence[int] = ()) -> Phase:
    """Run `work` once and time it; `work` may return its event count (else set it later).

    Nothing else happens between the two clock readings, so setup and checks stay out.
    """
    pids = list(broker_pids)
    broker_before = process_cpu_s(pids)
    cpu_before, wall_before = cpu_s(), time.perf_counter()
    events = work()
    wall_after, cpu_after = time.perf_counter(), cpu_s()
    broker_after = process_cpu_s(pids)
    broker = None if broker_before is None or broker_after is None else broker_after - broker_before
    return Phase(name, wall_after - wall_before, cpu_after - cpu_before, events or 0, broker)


@dataclass
class Sample:
    """One side's run within a pair: its phases, and what it moved."""

    label: str
    cases: int
    phases: list[Phase]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def events(self) -> int:
        # Every phase of a sample handles the same events (produce them, then consume them),
        # so the sample's event count is that of its largest phase, not the sum.
        return max((p.events for p in self.phases), default=0)

    @property
    def wall_s(self) -> float:
        return sum(p.wall_s for p in self.phases)

    @property
    def cpu_s(self) -> float:
        return sum(p.cpu_s for p in self.phases)

    @property
    def broker_cpu_s(self) -> float | None:
        values = [p.broker_cpu_s for p in self.phases]
        return None if not values or None in values else sum(v for v in values if v is not None)

    @property
    def events_per_s(self) -> float | None:
        return per(self.events, self.wall_s)

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "cases": self.cases,
            "events": self.events,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "events_per_s": self.events_per_s,
            "cases_per_s": per(self.cases, self.wall_s),
            "cpu_us_per_event": micros_per(self.cpu_s, self.events),
            "broker_cpu_s": self.broker_cpu_s,
            "broker_cpu_us_per_event": micros_per(self.broker_cpu_s, self.events),
            "phases": [p.as_json() for p in self.phases],
            **self.details,
        }


def per(count: float, seconds: float | None) -> float | None:
    return count / seconds if seconds else None


def micros_per(seconds: float | None, count: int) -> float | None:
    return seconds * 1e6 / count if seconds is not None and count else None


def settle() -> None:
    """After setup, before timing: collect now, and freeze the survivors so the timed
    code's collections do not keep rescanning long-lived setup objects."""
    gc.collect()
    gc.freeze()


def unsettle() -> None:
    """After timing: let the next collection reclaim this sample's objects (repeated
    freezes would otherwise keep every sample's runtime alive until exit)."""
    gc.unfreeze()


def quartiles(values: Sequence[float]) -> dict[str, float | int | None]:
    """Median, Q1, Q3 and IQR (inclusive method: with 5 values Q1/Q3 are the 2nd/4th)."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return {"n": 0, **dict.fromkeys(("median", "q1", "q3", "iqr", "min", "max"))}
    q1, _, q3 = statistics.quantiles(data, n=4, method="inclusive") if len(data) > 1 else data * 3
    return {"n": len(data), "median": statistics.median(data), "q1": q1, "q3": q3,
            "iqr": q3 - q1, "min": data[0], "max": data[-1]}


class ResultFile:
    """bench/results/<UTC timestamp>-<name>.jsonl: one line per pair, then a summary line."""

    def __init__(self, directory: Path, stamp: str, name: str, env: dict[str, Any]):
        directory.mkdir(parents=True, exist_ok=True)
        self.env = env
        # Never overwrite an earlier result: two runs in the same second get -2, -3, ...
        for attempt in range(1, 100):
            self.path = directory / f"{stamp}-{name}{'' if attempt == 1 else f'-{attempt}'}.jsonl"
            try:
                self._file: TextIO = self.path.open("x", encoding="utf-8")
                break
            except FileExistsError:
                continue
        else:
            raise FileExistsError(self.path)

    def write(self, line: dict[str, Any]) -> None:
        # Versions and hardware on every line, so any line read alone is still attributable.
        # The load average shows when something else shared the machine during a pair; the
        # process id, that each benchmark of a run had a process of its own.
        stamped = {**line, "loadavg": os.getloadavg(), "pid": os.getpid(), "env": self.env}
        self._file.write(json.dumps(stamped, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


Side = Callable[[int], Sample]


def run_pairs(
    bench: str,
    side_a: Side | None,
    side_b: Side,
    *,
    pairs: int,
    warmup: int,
    sink: ResultFile,
    notes: dict[str, Any] | None = None,
    side_b2: Side | None = None,
    b2_label: str = "",
) -> dict[str, Any]:
    """Alternate A then B, `warmup` discarded pairs first; the KPI is A/B of events/s.

    `side_a` may be None while the system under test does not exist yet: B still runs
    in the same schedule, and every ratio is null. `side_b2`, a second baseline, runs
    right after B in each pair; its ratio A/B2 is reported beside the KPI.
    """
    started = time.perf_counter()
    kept: list[tuple[Sample | None, Sample, float | None]] = []
    second: list[tuple[Sample, float | None]] = []
    for index in range(warmup + pairs):
        is_warmup = index < warmup
        a = side_a(index) if side_a else None
        b = side_b(index)
        b2 = side_b2(index) if side_b2 else None
        ratio = ratio_of(a, b)
        ratio2 = ratio_of(a, b2) if b2 else None
        sink.write({
            "type": "pair", "bench": bench, "pair": index - warmup, "warmup": is_warmup,
            "a": a.as_json() if a else None, "b": b.as_json(),
            "ratio": ratio, "cost_ratio": 1 / ratio if ratio else None,
            **({"b2": b2.as_json(), "b2_ratio": ratio2} if b2 else {}),
        })
        print(f"  {bench} {'warm-up' if is_warmup else f'pair {index - warmup + 1}/{pairs}'}: "
              f"A {fmt_rate(a.events_per_s if a else None)} ev/s, "
              f"B {fmt_rate(b.events_per_s)} ev/s, A/B {fmt_ratio(ratio)}"
              + (f"; B2 {fmt_rate(b2.events_per_s)} ev/s, A/B2 {fmt_ratio(ratio2)}" if b2 else ""),
              file=sys.stderr)
        if not is_warmup:
            kept.append((a, b, ratio))
            if b2:
                second.append((b2, ratio2))
    extra: dict[str, Any] = {}
    if second:
        extra = {"b2": side_stats([b2 for b2, _ in second]), "b2_label": b2_label,
                 "b2_ratio": quartiles([r for _, r in second if r is not None])}
    summary = {
        "type": "summary", "bench": bench, "pairs": len(kept), "warmup_pairs": warmup,
        "ratio": quartiles([r for _, _, r in kept if r is not None]),
        "cost_ratio": quartiles([1 / r for _, _, r in kept if r]),
        "a": side_stats([a for a, _, _ in kept if a is not None]),
        "b": side_stats([b for _, b, _ in kept]),
        "bench_wall_s": time.perf_counter() - started,
        **extra,
        **(notes or {}),
    }
    sink.write(summary)
    return summary


def ratio_of(a: Sample | None, b: Sample) -> float | None:
    """A/B of events/s: above 1 A is faster; 0.25 means A moves a quarter of B's events."""
    a_rate, b_rate = (a.events_per_s if a else None), b.events_per_s
    return a_rate / b_rate if a_rate and b_rate else None


def side_stats(samples: list[Sample]) -> dict[str, Any] | None:
    if not samples:
        return None
    rows = [s.as_json() for s in samples]
    stats: dict[str, Any] = {key: rows[0][key] for key in ("label", "cases", "events")}
    for key in ("events_per_s", "cases_per_s", "wall_s", "cpu_us_per_event",
                "broker_cpu_us_per_event"):
        stats[key] = quartiles([r[key] for r in rows])
    for phase in rows[0]["phases"]:
        name = phase["name"]
        picked = [p for r in rows for p in r["phases"] if p["name"] == name]
        stats.setdefault("phases", {})[name] = {
            key: quartiles([p[key] for p in picked])
            for key in ("events_per_s", "cpu_us_per_event", "broker_cpu_us_per_event")
        }
    return stats


def fmt_rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def fmt_ratio(value: float | None) -> str:
    return "null" if value is None else f"{value:.3f}"
