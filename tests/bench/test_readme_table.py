"""The README's benchmark table names the CPU each run had, from the result itself."""

from __future__ import annotations

from typing import Any

from bench.readme_table import row


def summary(cpu_model: str | None) -> dict[str, Any]:
    env = {"cpu_model": cpu_model} if cpu_model is not None else {}
    return {"type": "summary", "bench": "B7", "goal": 0.5, "env": env,
            "ratio": {"median": 0.322, "iqr": 0.018},
            "a": {"events_per_s": {"median": 940.0}}, "b": {"events_per_s": {"median": 2659.0}}}


def test_the_run_column_names_the_cpu_the_run_had() -> None:
    assert row(summary("AMD EPYC"), "20261202T125802Z").endswith("| 20261202T125802Z (AMD EPYC) |")
    assert row(summary("Intel(R) Xeon(R) Processor"), "20261202T094159Z").endswith(
        "| 20261202T094159Z (Intel Xeon) |")


def test_a_result_without_a_cpu_model_shows_the_run_alone() -> None:
    assert row(summary(None), "20261130T123857Z").endswith("| 20261130T123857Z |")
    assert "**no**" in row(summary(None), "20261130T123857Z")
