"""`cases rebuild`'s check split by case over processes: it finds what the single-process
check finds, and steps aside for it wherever it cannot be sure of its split."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import pytest

from events.codec import encode_state
from events.envelope import CaseEvent
from services.bootstrap import EmbeddedRuntime
from services.common.context import SettableClock
from services.reporting import rebuild, rebuild_shards
from services.reporting.rebuild import Checked, check_log, live_fingerprint, rebuild_views, store_batches
from services.reporting.rebuild_shards import shard_count, shard_of_stored, shard_rows, sharded_check
from services.reporting.views import view_sql_for
from services.runtime.attached import log_rows, sqlite_file
from tests.application.test_rebuild import run_sql, several_cases, table_identity
from tests.fixtures import START, Desk

V1_HOME = Path(__file__).resolve().parents[1] / "data" / "v1_home"


def cases_in_both_shards(desk: Desk) -> list:
    """The usual cases, and more until both of two shards hold one (a case's shard is the
    last hex digit of its id, which is random)."""
    cases = several_cases(desk)
    while len({c.int & 1 for c in cases}) < 2:
        cases.append(desk.open())
    return cases


def serial(rt: EmbeddedRuntime) -> tuple:
    datastore = rt.reporting.recorder.datastore  # type: ignore[attr-defined]
    checked = check_log(lambda: store_batches(rt.services), lambda n: None,
                        lambda: live_fingerprint(datastore, view_sql_for(datastore)))
    return tuple(checked)


def test_a_stored_row_goes_to_the_shard_of_its_case(desk: Desk) -> None:
    several_cases(desk)
    events = [e for app in desk.rt.services.values() for e in app.stored_events()]
    assert any(isinstance(e, CaseEvent) for e in events) and not all(isinstance(e, CaseEvent) for e in events)
    for event in events:
        for shards in (2, 4):
            want = (event.case_id.int % 16) % shards if isinstance(event, CaseEvent) else 0
            assert shard_of_stored(encode_state(event), shards) == want
    assert [shard_count(cores) for cores in (1, 2, 3, 4, 16)] == [1, 2, 2, 4, 4]


def test_sqlite_picks_the_rows_of_a_shard_as_shard_of_stored_does(tmp_path: Path) -> None:
    """Shares exist only over plain SQLite stores: the embedded default, not the desk's
    PostgreSQL variant."""
    desk = Desk(tmp_path / "home")
    try:
        several_cases(desk)
        for app in desk.rt.services.values():
            found = sqlite_file(app)
            assert found is not None
            everything = list(log_rows(found[0]))
            for shards in (2, 4):
                picked = [list(log_rows(found[0], *shard_rows(shard, shards))) for shard in range(shards)]
                assert sorted(row for rows in picked for row in rows) == sorted(everything)  # each row once
                for shard, rows in enumerate(picked):
                    assert all(shard_of_stored(state, shards) == shard for _, _, state in rows)
    finally:
        desk.close()


def test_the_sharded_check_finds_what_the_single_process_check_finds(desk: Desk, store: str) -> None:
    cases = cases_in_both_shards(desk)
    check = sharded_check(desk.rt.services, desk.rt.reporting, shards=2)
    if store != "sqlite":  # forked processes read plain SQLite files only
        assert check(lambda n: None) is None
        return
    counted: list[int] = []
    equal = check(counted.append)
    assert equal is not None and equal.found == [] and tuple(equal) == serial(desk.rt)
    assert sum(counted) == equal.events and equal.cases == len(cases)
    # Drift in a case of each shard: a state, and a trail.
    odd = next(c for c in cases if c.int & 1)
    even = next(c for c in cases if not c.int & 1)
    run_sql(desk, store, "UPDATE {t}case_state SET status = 'closed' WHERE case_id = ?", (str(odd),))
    run_sql(desk, store, "DELETE FROM {t}case_events WHERE case_id = ? AND version = 1", (str(even),))
    drifted = check(lambda n: None)
    assert drifted is not None and tuple(drifted) == serial(desk.rt)
    assert drifted.found == sorted([f"case {odd}: state differs", f"case {even}: trail differs"])


def test_equal_views_are_left_in_place_and_drifted_ones_repaired(desk: Desk, store: str) -> None:
    cases = cases_in_both_shards(desk)
    check = sharded_check(desk.rt.services, desk.rt.reporting, shards=2)
    log = lambda: store_batches(desk.rt.services)  # noqa: E731
    before = table_identity(desk, store)
    result = rebuild_views(desk.rt.reporting, log, check_first=check)
    assert result["equal_to_live"] and not result["rewritten"] and result["cases"] == len(cases)
    assert table_identity(desk, store) == before
    state = desk.state(cases[0])
    run_sql(desk, store, "UPDATE {t}case_state SET status = 'closed' WHERE case_id = ?", (str(cases[0]),))
    repaired = rebuild_views(desk.rt.reporting, log, check_first=check)
    assert repaired["differences"] == [f"case {cases[0]}: state differs"] and repaired["rewritten"]
    assert desk.state(cases[0]) == state


def test_a_row_read_into_the_wrong_shard_hands_the_check_back(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes whose case this reading gets wrong: the shard that decodes them sees the event is
    not one of its cases, and the single-process check runs instead (same answer)."""
    cases = cases_in_both_shards(desk)
    monkeypatch.setattr(rebuild_shards, "shard_rows", lambda shard, shards: ("", ()))  # every row, every shard
    check = sharded_check(desk.rt.services, desk.rt.reporting, shards=2)
    assert check(lambda n: None) is None
    result = rebuild_views(desk.rt.reporting, lambda: store_batches(desk.rt.services), check_first=check)
    assert result["equal_to_live"] and not result["rewritten"] and result["cases"] == len(cases)


def test_a_home_of_the_previous_release_checks_the_same_sharded(tmp_path: Path) -> None:
    """Events stored under an older schema are decoded upcast, in whichever shard they fall."""
    home = tmp_path / "home"
    shutil.copytree(V1_HOME, home)
    rt = EmbeddedRuntime(home, SettableClock(START))
    try:
        rt.pump()  # as a command's first pass does: what the old release left undelivered
        sharded = sharded_check(rt.services, rt.reporting, shards=2)(lambda n: None)
        assert sharded is not None and sharded.found == [] and tuple(sharded) == serial(rt)
    finally:
        rt.close()


def test_a_small_log_is_checked_in_one_process(desk: Desk, store: str) -> None:
    several_cases(desk)
    assert sharded_check(desk.rt.services, desk.rt.reporting)(lambda n: None) is None


def test_a_share_that_never_answers_hands_the_check_back(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """A forked share stuck (say on a lock another thread held at the fork) is given up on
    once it takes far longer than the command's own share, and the single process checks."""
    cases_in_both_shards(desk)

    def stuck(*_: object) -> None:
        time.sleep(600)

    monkeypatch.setattr(rebuild_shards, "_run_shard", stuck)
    monkeypatch.setattr(rebuild_shards, "STUCK_AFTER", 0.5)
    started = time.monotonic()
    assert sharded_check(desk.rt.services, desk.rt.reporting, shards=2)(lambda n: None) is None
    assert time.monotonic() - started < 60  # not the child's ten minutes


def test_a_stuck_share_is_given_up_on_where_sigterm_only_sets_a_flag(
        desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a process that ran a worker, SIGTERM sets a stop flag (worker.py), and a forked
    share inherits that handler: the stuck share must still end, and the check come back."""
    cases_in_both_shards(desk)
    asked: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: asked.append(signum))
    try:
        monkeypatch.setattr(rebuild_shards, "_run_shard", lambda *_: time.sleep(600))
        monkeypatch.setattr(rebuild_shards, "STUCK_AFTER", 0.5)
        started = time.monotonic()
        assert sharded_check(desk.rt.services, desk.rt.reporting, shards=2)(lambda n: None) is None
        assert time.monotonic() - started < 60  # not the child's ten minutes
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_stores_that_step_back_in_time_are_checked_without_writing(
        desk: Desk, store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A clock set back (or worker instances with skewed clocks sharing a store) leaves a
    store's rows out of time order, and the merge of the stores hands a case an event older
    than one it has folded. The check folds that case whole from a second read; the views
    are found equal and nothing is written, sharded or not."""
    monkeypatch.setattr(rebuild, "BATCH", 2)  # the older event comes in a later batch
    cases = cases_in_both_shards(desk)
    late = desk.open()
    desk.later(hours=3)
    desk.act(desk.rt.records.grant_consent, late, "records_access", "portal")  # records: late, at +3h
    desk.later(hours=2)
    cases += [desk.open(), late]  # intake and records: another case at +5h
    desk.later(hours=-3)
    desk.act(desk.rt.intake.cancel_case, late, "changed their mind", "member")  # intake: late, at +2h, after +5h
    before = table_identity(desk, store)
    datastore = desk.rt.reporting.recorder.datastore  # type: ignore[attr-defined]

    def check_in_one_process() -> Checked:
        return check_log(lambda: store_batches(desk.rt.services), lambda n: None,
                         lambda: live_fingerprint(datastore, view_sql_for(datastore)))

    with monkeypatch.context() as patched:  # the log does hand a case an older event
        patched.setattr(rebuild, "MAX_REFOLD_CASES", 0)
        assert check_in_one_process().found is None
    checked = check_in_one_process()
    assert checked.found == [] and checked.cases == len(cases)
    check = sharded_check(desk.rt.services, desk.rt.reporting, shards=2)
    if store == "sqlite":
        sharded = check(lambda n: None)
        assert sharded is not None and tuple(sharded) == tuple(checked)
    result = rebuild_views(desk.rt.reporting, lambda: store_batches(desk.rt.services), check_first=check)
    assert result["equal_to_live"] and not result["rewritten"] and result["cases"] == len(cases)
    assert table_identity(desk, store) == before
