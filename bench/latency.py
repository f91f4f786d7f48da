"""Latency benchmarks (B2, B5): per pair, A's and B's latency samples; the KPI is A/B of a
percentile (lower is better), its median over pairs and IQR."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.protocol import ResultFile, quartiles

#: One side's run: its latencies in ms, and anything worth recording.
LatencySide = Callable[[int], tuple[list[float], dict[str, Any]]]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    return statistics.quantiles(data, n=1000, method="inclusive")[int(q * 10) - 1]


def describe(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99),
            "max_ms": max(values) if values else None}


def run_latency_pairs(bench: str, side_a: LatencySide, side_b: LatencySide, *, pairs: int,
                      warmup: int, sink: ResultFile, key: str = "p99_ms",
                      notes: dict[str, Any] | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    kept: list[tuple[dict[str, Any], dict[str, Any], float | None]] = []
    for index in range(warmup + pairs):
        is_warmup = index < warmup
        a_values, a_details = side_a(index)
        b_values, b_details = side_b(index)
        a, b = {**describe(a_values), **a_details}, {**describe(b_values), **b_details}
        ratio = a[key] / b[key] if a[key] and b[key] else None
        sink.write({"type": "pair", "bench": bench, "pair": index - warmup, "warmup": is_warmup,
                    "a": a, "b": b, "ratio": ratio, "ratio_of": key})
        print(f"  {bench} {'warm-up' if is_warmup else f'pair {index - warmup + 1}/{pairs}'}: "
              f"A {key} {a[key] or 0:.2f} ms, B {b[key] or 0:.2f} ms, A/B "
              f"{'null' if ratio is None else f'{ratio:.2f}'}", file=sys.stderr)
        if not is_warmup:
            kept.append((a, b, ratio))
    summary = {
        "type": "summary", "bench": bench, "kind": "latency", "unit": "ms", "pairs": len(kept),
        "warmup_pairs": warmup, "ratio_of": key,
        "ratio": quartiles([r for _, _, r in kept if r is not None]),
        "a": {k: quartiles([a[k] for a, _, _ in kept if a.get(k) is not None])
              for k in ("p50_ms", "p99_ms")},
        "b": {k: quartiles([b[k] for _, b, _ in kept if b.get(k) is not None])
              for k in ("p50_ms", "p99_ms")},
        "bench_wall_s": time.perf_counter() - started,
        **(notes or {}),
    }
    summary["a_value"] = summary["a"][key]["median"]
    summary["b_value"] = summary["b"][key]["median"]
    sink.write(summary)
    return summary
