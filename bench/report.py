"""The end-of-run table: per side medians (with Q1-Q3), then the A/B ratio per benchmark."""

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
    widths = [max(len(row[i]) for n, row in enumerate(rows) if n not in notes)
              for i in range(len(HEADER))]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)
