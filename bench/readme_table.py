"""The README's table from result summaries: one row per benchmark series, with A, the
baseline B, the median ratio, its IQR, the goal and the run it came from.

`python -m bench.readme_table [STAMP]` rebuilds it from bench/results/ (default: the
latest full run of each benchmark), so the README can be refreshed without re-running.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
NAMES = {"kafka": "in-process relays + consumer vs kafka-python (`bench kafka`)",
         "kafka in-process": "in-process relays + consumer vs kafka-python (`bench kafka`)"}
HEADER = ("| Benchmark | A (service) | B (raw baseline) | A/B median | IQR | goal | met | run |\n"
          "|---|---|---|---|---|---|---|---|")


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ev/s":
        return f"{value:,.0f} ev/s"
    return f"{value:,.2f} {unit}"


def run_of(summary: dict[str, Any], stamp: str) -> str:
    """The run, and the CPU it ran on (as the result recorded it): the same code's ratios
    moved by up to a third between this VM's two CPU models, AMD EPYC and Intel Xeon
    (bench/README.md, Results), so a reader compares runs only within one."""
    cpu = " ".join(str((summary.get("env") or {}).get("cpu_model") or "").replace("(R)", "")
                   .replace("Processor", "").split())
    return f"{stamp} ({cpu})" if cpu else stamp


def row(summary: dict[str, Any], stamp: str) -> str:
    stamp = run_of(summary, stamp)
    name = summary.get("title") or NAMES.get(summary["bench"], summary["bench"])
    if summary.get("series") and not summary.get("title") and summary["series"] not in name:
        name = f"{name} {summary['series']}"
    if summary.get("label") and summary.get("bench") == "startup":
        name = f"B8 startup {summary['label']}"
    if summary.get("failed") or summary.get("skipped"):
        why = " ".join(str(summary.get("failed") or summary.get("skipped")).split())[:160]
        return f"| {name} | {'failed' if summary.get('failed') else 'skipped'}: {why} | | | | | | {stamp} |"
    ratio = summary.get("ratio") or {}
    median, iqr = ratio.get("median"), ratio.get("iqr")
    goal = summary.get("goal")
    lower_is_better = summary.get("bench") == "startup" or summary.get("kind") == "latency"
    if summary.get("bench") == "startup":
        a = _fmt(summary["a"]["wall_ms_per_launch"]["median"], "ms")
        b = _fmt(summary["b"]["wall_ms_per_launch"]["median"], "ms")
    elif summary.get("kind") == "latency":
        a = _fmt(summary.get("a_value"), summary.get("unit", "ms"))
        b = _fmt(summary.get("b_value"), summary.get("unit", "ms"))
    else:
        a = _fmt(((summary.get("a") or {}).get("events_per_s") or {}).get("median"), "ev/s")
        b = _fmt(((summary.get("b") or {}).get("events_per_s") or {}).get("median"), "ev/s")
        if summary.get("b2"):
            b += f"; {summary['b2_label']}: " + _fmt(summary["b2"]["events_per_s"]["median"], "ev/s")
    if goal is None or median is None:
        met = "-"
    else:
        met = "yes" if (median <= goal if lower_is_better else median >= goal) else "**no**"
    sign = "≤" if lower_is_better else "≥"
    goal_text = "-" if goal is None else f"{sign} {goal:g}"
    ratio_text = "-" if median is None else f"{median:.3f}"
    if summary.get("b2_ratio") and summary["b2_ratio"].get("median") is not None:
        ratio_text += f" (vs {summary['b2_label']}: {summary['b2_ratio']['median']:.3f})"
    iqr_text = "-" if iqr is None else f"{iqr:.3f}"
    return f"| {name} | {a} | {b} | {ratio_text} | {iqr_text} | {goal_text} | {met} | {stamp} |"


def markdown(summaries: list[dict[str, Any]], stamp: str) -> str:
    return "\n".join([HEADER] + [row(s, stamp) for s in summaries])


def latest_summaries(directory: Path = RESULTS, stamp: str | None = None) -> list[tuple[dict[str, Any], str]]:
    """The summary lines of the latest full run of each result name (or of `stamp`)."""
    latest: dict[str, Path] = {}
    for path in sorted(directory.glob("*.jsonl")):
        if path.stem.endswith("-quick"):
            continue
        run, _, name = path.stem.partition("-")
        if stamp is None or run == stamp:
            latest[name] = path  # sorted by stamp: the last one wins
    found = []
    for name in sorted(latest, key=_order):
        path = latest[name]
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record.get("type") == "summary":
                found.append((record, path.stem.partition("-")[0]))
    return found


def _order(name: str) -> tuple[int, str]:
    known = ["B1", "B2", "B3", "B4", "B5", "B6", "embedded", "startup", "kafka"]
    return (known.index(name) if name in known else len(known), name)


def main(argv: list[str]) -> int:
    found = latest_summaries(stamp=argv[0] if argv else None)
    print("\n".join([HEADER] + [row(s, stamp) for s, stamp in found]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
