"""Pins what the one adapter over eventsourcing's private recorder methods relies on
(services/runtime/chain.py): a service's in-transaction writes and the hash chain commit
with the events and the tracking record, and a failure among them rolls all of it back."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent, Tracking

from services.bootstrap import build_service


def test_in_transaction_writes_commit_and_roll_back_with_the_events(tmp_path: Path, store: str) -> None:
    app = build_service("reporting", tmp_path)
    try:
        recorder = app.recorder
        seen: list[object] = []
        event = StoredEvent(originator_id=uuid4(), originator_version=1, topic="t", state=b"{}")
        recorder.insert_events([event], tracking=Tracking("intake", 1), in_transaction=seen.append)
        assert len(seen) == 1  # called once, with the transaction's cursor
        assert recorder.max_tracking_id("intake") == 1
        chain = app.recorder.chain_sql  # type: ignore[attr-defined]
        with recorder.datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
            c.execute(chain.select_all)
            assert len(c.fetchall()) == 1  # the chain grew with the event

        def fail(_: object) -> None:
            raise RuntimeError("view write failed")

        second = StoredEvent(originator_id=uuid4(), originator_version=1, topic="t", state=b"{}")
        with pytest.raises(RuntimeError):
            recorder.insert_events([second], tracking=Tracking("intake", 2), in_transaction=fail)
        assert recorder.max_tracking_id("intake") == 1
        assert recorder.select_events(second.originator_id) == []
        # Tracking only (an upstream event that changed nothing here): still called.
        recorder.insert_events([], tracking=Tracking("intake", 3), in_transaction=seen.append)
        assert len(seen) == 2 and recorder.max_tracking_id("intake") == 3
    finally:
        app.close()


def test_the_remembered_chain_head_survives_other_writers_and_rollbacks(tmp_path: Path, store: str) -> None:
    """Each recorder remembers the last link it committed instead of reading it back. Two
    writers on one store take turns, and a transaction rolls back between: the chain still
    links every stored event, as `cases verify` reads it."""
    from services.reporting.verify import verify_stores

    first, second = build_service("records", tmp_path), build_service("records", tmp_path)
    try:
        def put(app: object, fail: bool = False) -> None:
            def write(_: object) -> None:
                if fail:
                    raise RuntimeError("rolled back")
            event = StoredEvent(originator_id=uuid4(), originator_version=1, topic="t", state=b"{}")
            app.recorder.insert_events([event, StoredEvent(originator_id=event.originator_id,  # type: ignore[attr-defined]
                                                           originator_version=2, topic="t", state=b"{}")],
                                       in_transaction=write)

        put(first)
        put(first)  # the head it remembers
        put(second)  # another writer moves the head on
        put(first)  # reads it back
        with pytest.raises(RuntimeError):
            put(first, fail=True)  # its link never counts
        put(second)
        put(first)
        put(first)
        result = verify_stores({"records": first})
        # The rows are no events this code reads ("undecodable"); every link is intact.
        assert [b["problem"] for b in result["broken"]] == ["undecodable"] * 14
        assert result["events"] == 14
    finally:
        first.close()
        second.close()
