"""B4's large home: cases cloned onto fresh ids, later in time, that a rebuild folds as real
cases (bench/clone_cases.py)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson

from bench.clone_cases import clone_cases
from bench.kafka_source import run_cases
from services.bootstrap import SERVICES, EmbeddedRuntime
from services.reporting.rebuild import rebuild_views, store_batches


def stored(home: Path, service: str) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(home / f"{service}.sqlite")) as db:
        return [orjson.loads(state) for (state,) in db.execute("SELECT state FROM stored_events ORDER BY rowid")]


def rebuild(home: Path) -> dict[str, Any]:
    rt = EmbeddedRuntime(home)
    try:
        return rebuild_views(rt.reporting, lambda: store_batches(rt.services))
    finally:
        rt.close()


def test_clones_are_new_cases_later_in_time_that_a_rebuild_folds_in_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run_cases(home, 3)
    before = {service: stored(home, service) for service in SERVICES}
    base = sum(len(rows) for rows in before.values())

    total = clone_cases(home, 3 * base)

    assert total == 3 * base
    after = {service: stored(home, service) for service in SERVICES}
    assert sum(len(rows) for rows in after.values()) == total
    opened = [e for e in after["intake"] if e["type"] == "case_opened"]
    assert len({e["case_id"] for e in opened}) == 9  # three cases, twice cloned
    for rows in after.values():
        assert len({e["event_id"] for e in rows}) == len(rows)  # every copy has ids of its own
        moments = [e["occurred_at"] for e in rows]
        assert moments == sorted(moments)  # each store's log stays in time order

    # Every follower is at its leaders' ends: a pump has nothing of the copies to carry.
    for service in SERVICES:
        with closing(sqlite3.connect(home / f"{service}.sqlite")) as db:
            for leader, position in db.execute("SELECT * FROM tracking WHERE application_name != '__migration__'"):
                assert position == len(after[leader]), (service, leader)

    first = rebuild(home)  # the views do not hold the copies yet: written afresh
    assert first["rewritten"] and first["cases"] == 9 and first["events"] == total
    again = rebuild(home)  # now equal, and checked without refolding out of order
    assert again["equal_to_live"] and not again["rewritten"] and again["cases"] == 9
