"""The end-of-run tables: per side medians (with Q1-Q3), then the A/B ratio per benchmark.

Throughput benchmarks get one table; the startup benchmark (B8), whose ratio is of seconds
and so reads the other way round, gets its own.
"""

from __future__ import annotations

from typing import Any

HEADER = ("benchmark", "side", "events/s median [Q1-Q3]", "cases/s", "app CPU us/ev",
          "broker CPU us/ev", "wall s")


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _spread(stats: dict[str, Any], digits: int = 0) -> str:
    if stats["median"] is None:
        return "-"
    median, q1, q3 = (_num(stats[key], digits) for key in ("median", "q1", "q3"))
    return f"{median} [{q1}-{q3}]"


def _side_row(bench: str, name: str, side: dict[str, Any] | None) -> tuple[str, ...]:
    if side is None:
        return (bench, f"{name}: pending", "-", "-", "-", "-", "-")
    return (bench, f"{name}: {side['label']}", _spread(side["events_per_s"]),
            _num(side["cases_per_s"]["median"], 1), _num(side["cpu_us_per_event"]["median"], 1),
            _num(side["broker_cpu_us_per_event"]["median"], 1), _num(side["wall_s"]["median"], 3))


def _ratio_row(summary: dict[str, Any]) -> tuple[str, ...]:
    ratio = summary["ratio"]
    if ratio["median"] is None:
        text = f"null ({summary.get('ratio_note', 'no A side')})"
    else:
        text = (f"{_spread(ratio, 3)}  IQR {ratio['iqr']:.3f}; "
                f"cost A/B {summary['cost_ratio']['median']:.2f}x")
    return (summary["bench"], "ratio A/B of events/s", text, "", "", "", "")


def table(summaries: list[dict[str, Any]]) -> str:
    startup = [s for s in summaries if s["bench"] == "startup" and not s.get("failed")]
    throughput = [s for s in summaries if s["bench"] != "startup" and not s.get("failed")
                  and s.get("kind") != "latency"]
    others = [s for s in summaries if s not in startup and s not in throughput]
    parts = [_throughput_table(throughput)] if throughput else []
    if startup:
        parts.append(startup_table(startup))
    if others:
        parts.append("\n".join(_other_line(s) for s in others))
    return "\n\n".join(parts)


def _other_line(summary: dict[str, Any]) -> str:
    """Latency series (lower is better) and failed benchmarks, one line each."""
    if summary.get("failed"):
        return f"{summary['bench']}: FAILED {summary['failed']}"
    ratio, unit = summary["ratio"], summary.get("unit", "ms")
    return (f"{summary.get('title', summary['bench'])}: A {_num(summary.get('a_value'), 2)} {unit}, "
            f"B {_num(summary.get('b_value'), 2)} {unit}, A/B {_spread(ratio, 2)} "
            f"(lower is better; goal <= {summary.get('goal')})")


def _throughput_table(summaries: list[dict[str, Any]]) -> str:
    rows: list[tuple[str, ...]] = [HEADER]
    notes: set[int] = set()  # rows whose long text overflows its column instead of widening it
    for summary in summaries:
        if summary.get("skipped"):
            notes.add(len(rows))
            rows.append((summary["bench"], f"skipped: {summary['skipped']}", "", "", "", "", ""))
            continue
        rows.append(_side_row(summary["bench"], "A", summary["a"]))
        rows.append(_side_row(summary["bench"], "B", summary["b"]))
        notes.add(len(rows))
        rows.append(_ratio_row(summary))
    return _render(rows, notes)


STARTUP_HEADER = ("B8 startup", "A: cases ms/launch [Q1-Q3]", "B: python -c pass ms",
                  "A/B of seconds [Q1-Q3]", "IQR", "child CPU ms A / B", "goal")


def _goal(summary: dict[str, Any]) -> str:
    if summary["goal"] is None:
        return "none (report only)"
    verdict = "met" if summary["goal_met"] else "NOT met"
    return f"<= {summary['goal']:g}x: {verdict}"


def startup_table(summaries: list[dict[str, Any]]) -> str:
    """Per command: wall ms per launch of A and B, and A/B of seconds (lower is better)."""
    rows: list[tuple[str, ...]] = [STARTUP_HEADER]
    for summary in summaries:
        a, b, ratio = summary["a"], summary["b"], summary["ratio"]
        rows.append((
            summary["label"],
            _spread(a["wall_ms_per_launch"], 1), _spread(b["wall_ms_per_launch"], 1),
            f"{_spread(ratio, 2)}x", f"{ratio['iqr']:.2f}",
            (f"{_num(a['child_cpu_ms_per_launch']['median'], 1)} / "
             f"{_num(b['child_cpu_ms_per_launch']['median'], 1)}"),
            _goal(summary),
        ))
    launches = summaries[0]["launches_per_sample"]
    return (_render(rows, set())
            + "\nA/B = A seconds / B seconds per launch: how many bare interpreter starts one"
            " command costs.\nLower is better: inverted relative to the throughput benchmarks'"
            f" ratios. Each sample is the mean of {launches} launches.")


def _render(rows: list[tuple[str, ...]], notes: set[int]) -> str:
    """Left-aligned columns; rows in `notes` overflow their column instead of widening it."""
    widths = [max(len(row[i]) for n, row in enumerate(rows) if n not in notes)
              for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)
