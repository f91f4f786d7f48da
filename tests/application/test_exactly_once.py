"""Each upstream event takes effect exactly once, also when a process dies mid-flow."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from eventsourcing.persistence import Tracking

from events.records import CaseReadyForReview
from services.bootstrap import EmbeddedRuntime
from services.review.application import Review
from tests.fixtures import REQUEST, Desk, policy


def test_a_crash_mid_pump_is_finished_on_restart_without_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    desk = Desk(tmp_path / "home")
    desk.load_policies(policy(model="in_house"))
    case = desk.open()
    desk.act(desk.rt.records.grant_consent, case, "records_access", "portal")
    desk.act(desk.rt.records.add_record, case, "imaging", "Hospital radiology")

    def crash(*args: object) -> None:
        raise RuntimeError("process died")

    with monkeypatch.context() as patch, pytest.raises(RuntimeError):
        patch.setitem(Review.reactions, CaseReadyForReview, crash)
        desk.act(desk.rt.records.complete_records, case)
    desk.close()

    restarted = Desk(tmp_path / "home", now=desk.clock.now())
    restarted.rt.pump()
    types = Counter(restarted.types(case))
    assert restarted.state(case)["status"] == "in_review"
    assert types["case_ready_for_review"] == 1
    assert types["review_started"] == 1
    assert types["reviewer_assigned"] == 1
    restarted.close()


def test_a_redelivered_upstream_event_is_rejected_and_changes_nothing(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    records = desk.rt.records
    first = desk.rt.intake.notification_log.select(start=1, limit=100)
    opened = next(n for n in first if n.topic == "case_opened")
    before = records.recorder.max_notification_id()
    event = desk.rt.intake.mapper.to_domain_event(opened)
    # Already tracked: skipped, nothing recorded, no error for the consumer to handle.
    assert records.process_events([(event, Tracking(application_name="intake", notification_id=opened.id))]) == 0
    assert records.recorder.max_notification_id() == before
    assert Counter(desk.types(case))["case_file_opened"] == 1


CHILD = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from services.common.context import Context, SystemClock
    from services.intake.register_file import parse_register
    from services.intake.request_file import parse_case_request
    from services.bootstrap import EmbeddedRuntime

    home, policy, request, cases = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    rt = EmbeddedRuntime(home)
    ctx = Context(actor="user:test", now=rt.clock.now())
    rt.intake.load_policies(parse_register(json.dumps({"policies": [json.loads(policy)]})), ctx)
    for _ in range(cases):
        ctx = Context(actor="user:test", now=rt.clock.now())
        rt.intake.open_case(parse_case_request(request, ctx.today), ctx)
    print("pumping", flush=True)
    rt.pump()
    print("done", flush=True)
""")


def test_a_worker_killed_with_sigkill_mid_pump_loses_nothing_and_repeats_nothing(tmp_path: Path, store: str) -> None:
    home, cases = tmp_path / "home", 60
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(home), json.dumps(policy()), json.dumps(REQUEST), str(cases)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(Path.cwd())},
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "pumping"
    _wait_until_records_holds(home, store, events=30)  # well into the pump, far from its end
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL

    rt = EmbeddedRuntime(home)
    rt.pump()
    states = rt.reporting.views.all_states()
    assert len(states) == cases
    assert {s["status"] for s in states} == {"awaiting_consent"}
    per_case = Counter(e.case_id for e in _all_records_events(rt) if e.type_name == "case_file_opened")
    assert len(per_case) == cases and set(per_case.values()) == {1}
    assert all(s["events"] == 5 for s in states)  # 3 intake + 2 records events, none twice
    rt.close()


def _wait_until_records_holds(home: Path, store: str, events: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _records_events(home, store) >= events:
            return
        time.sleep(0.002)
    raise AssertionError("the child never got that far")


def _records_events(home: Path, store: str) -> int:
    try:
        if store == "sqlite":
            with sqlite3.connect(f"file:{home / 'records.sqlite'}?mode=ro", uri=True, timeout=5) as db:
                return int(db.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])
        import psycopg

        with psycopg.connect(os.environ["CASES_PG_DSN"]) as db:
            schema = os.environ["CASES_PG_SCHEMA"]
            return int(db.execute(f"SELECT COUNT(*) FROM {schema}.records_events").fetchone()[0])
    except Exception:  # noqa: BLE001 - not created yet, or busy: look again
        return 0


def _all_records_events(rt: EmbeddedRuntime) -> list:
    return list(rt.records.stored_events())
