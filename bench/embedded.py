"""Benchmark 1: cases through the embedded runtime (A) vs raw SQLite appends of its events (B)."""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.sqlite import SQLiteDatastore, SQLiteProcessRecorder

from bench.protocol import Sample, settle, timed, unsettle
from services.bootstrap import EmbeddedRuntime
from services.common.context import LONDON, Context, SettableClock
from services.intake.register_file import parse_register
from services.intake.request_file import parse_case_request
from services.review.reviewers_file import parse_reviewers

STORES = ("intake", "records", "review", "reporting")
#: A Thursday morning in London, as in tests/fixtures.py: every case runs inside it.
START = datetime(2025, 6, 12, 9, 0, tzinfo=LONDON)

# The sample files below mirror tests/fixtures.py (built here so the harness does not
# import the test package): one policy per delivery model, the same reviewer directory.
POLICIES = [
    {"number": number, "insurer": insurer, "product": "Personal Health",
     "start_date": "2024-03-01", "end_date": None, "status": "active",
     "underwriting": "moratorium", "exclusions": ["asthma"],
     "second_opinion": {"included": True, "model": model, "sla_working_days": 10}}
    for number, insurer, model in (("AXA-100234", "AXA Health", "third_party"),
                                   ("BUPA-200456", "Bupa", "in_house"))
]
REVIEWERS = {"reviewers": [
    {"id": rid, "name": name, "kind": kind, "specialties": ["orthopaedics"], "organisation": org}
    for rid, name, kind, org in (("IH-1", "Dr Able", "in_house", "clinical_team"),
                                 ("IH-2", "Dr Baker", "in_house", "clinical_team"),
                                 ("CS-1", "Mr Carter FRCS", "consultant", "specialists"),
                                 ("NET-1", "Network triage", "network", "medexpert"))
]}


# -- workload: everything a run needs, serialised before any timing ---------------------

@dataclass(frozen=True)
class CasePlan:
    request_json: str
    third_party: bool


@dataclass(frozen=True)
class Workload:
    register_json: str
    reviewers_json: str
    cases: tuple[CasePlan, ...]


def make_workload(n_cases: int, seed: int = 20250612) -> Workload:
    """Happy-path cases, alternating third_party and in_house, each for its own member.

    Requests are JSON text, as the CLI receives them: parsing and validation are part of
    the service's cost, so they happen inside the timed run; building them is not.
    """
    rng = random.Random(seed)
    plans = []
    for index in range(n_cases):
        policy = POLICIES[index % 2]
        plans.append(CasePlan(json.dumps(_request(policy["number"], index, rng)),
                              policy["second_opinion"]["model"] == "third_party"))
    return Workload(json.dumps({"policies": POLICIES}), json.dumps(REVIEWERS), tuple(plans))


def _request(policy_number: str, index: int, rng: random.Random) -> dict[str, Any]:
    return {
        "policy_number": policy_number,
        "requested_on": "2025-06-12",
        "member": {"name": f"Member {index}", "date_of_birth": "1980-04-02",
                   "nhs_number": _nhs_number(rng), "postcode": "SW1A 1AA",
                   "email": f"member{index}@example.org", "phone": "07700900123", "nation": "ENG"},
        "gp": {"name": "Dr A Smith", "practice": "High Street Surgery", "email": "gp@example.org"},
        "condition": {"name": "Rotator cuff tear", "icd10": "M75.1", "specialty": "orthopaedics",
                      "nature": "acute", "diagnosed_on": "2025-06-01", "history": []},
        "diagnosis": {"by": "Consultant orthopaedic surgeon",
                      "summary": "Full-thickness tear on MRI"},
        "proposed_treatment": "Open surgical repair",
    }


def _nhs_number(rng: random.Random) -> str:
    """A random NHS number that passes the modulus-11 check."""
    while True:
        digits = [rng.randint(0, 9) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=False)) % 11
        if check == 11:
            check = 0
        if check != 10:
            return "".join(map(str, digits)) + str(check)


# -- side A: the real embedded runtime, command by command -------------------------------

def force_sqlite() -> None:
    """Both sides must write SQLite: drop store overrides (services/runtime/stores.py)."""
    for key in [k for k in os.environ if k.startswith("CASES_") and k.endswith("_STORE")]:
        del os.environ[key]
    os.environ["CASES_STORE"] = "sqlite"


@contextmanager
def scratch(tmp_root: Path, prefix: str) -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix=prefix, dir=tmp_root))
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _ctx(clock: SettableClock, actor: str) -> Context:
    return Context(actor=actor, now=clock.now())


def _setup(rt: EmbeddedRuntime, clock: SettableClock, work: Workload) -> None:
    ctx = _ctx(clock, "user:case_handler")
    rt.intake.load_policies(parse_register(work.register_json), ctx)
    rt.pump()
    ctx = _ctx(clock, "user:case_handler")
    rt.review.register_reviewers(parse_reviewers(work.reviewers_json), ctx)
    rt.pump()


def drive(rt: EmbeddedRuntime, clock: SettableClock, work: Workload) -> list[UUID]:
    """Each case from request to delivered report, pumping after every command as the
    CLI does, so each step's downstream reactions are part of that step's cost."""
    records, review, reporting = rt.records, rt.review, rt.reporting
    case_ids = []

    def submit_as_assigned(case_id: UUID, outcome: str, summary: str, ctx: Context) -> None:
        """The opinion comes from the reviewer the case was assigned to (the network's own
        expert for a third-party review)."""
        assigned = (reporting.case_state(case_id)["review"] or {}).get("reviewer") or "Network expert"
        review.submit_opinion(case_id, outcome, summary, assigned, ctx)

    for plan in work.cases:
        ctx = _ctx(clock, "user:case_handler")
        case_id = rt.intake.open_case(parse_case_request(plan.request_json, ctx.today), ctx).case_id
        rt.pump()
        steps: list[tuple[Any, tuple[Any, ...], str]] = [
            (records.grant_consent, ("records_access", "portal"), "member"),
            (records.add_record, ("imaging", "Hospital radiology"), "user:case_handler"),
            (records.complete_records, (), "user:case_handler"),
        ]
        if plan.third_party:
            steps.append((records.grant_consent, ("third_party_disclosure", "portal"), "member"))
        steps += [
            (submit_as_assigned, ("confirmed", "Agree with the proposed repair"), "reviewer"),
            (reporting.deliver_report, (), "user:case_handler"),
        ]
        for command, args, actor in steps:
            command(case_id, *args, _ctx(clock, actor))
            rt.pump()
        case_ids.append(case_id)
    return case_ids


def check_delivered(rt: EmbeddedRuntime, case_ids: list[UUID]) -> None:
    """Untimed: a benchmark of a pipeline that silently stopped early would be flattering."""
    for case_id in case_ids:
        status = rt.reporting.case_state(case_id)["status"]
        if status != "report_issued":
            raise RuntimeError(f"case {case_id} ended {status!r}, not 'report_issued'")


def stored_count(rt: EmbeddedRuntime) -> int:
    return sum(app.recorder.max_notification_id() or 0 for app in rt.services.values())


def run_service(work: Workload, tmp_root: Path) -> Sample:
    """Side A: N cases end to end through a fresh embedded runtime (fresh CASES home)."""
    with scratch(tmp_root, "bench-a-") as home:
        clock = SettableClock(START)
        rt = EmbeddedRuntime(home, clock)
        try:
            _setup(rt, clock, work)
            before = stored_count(rt)
            case_ids: list[UUID] = []
            settle()
            try:
                phase = timed("commands", lambda: case_ids.extend(drive(rt, clock, work)))
            finally:
                unsettle()
            phase.events = stored_count(rt) - before
            check_delivered(rt, case_ids)
        finally:
            rt.close()
    return Sample("embedded runtime", len(work.cases), [phase])


# -- capture: what the stores were asked to write, call by call --------------------------

@dataclass(frozen=True)
class Write:
    """One `insert_events` call, i.e. one SQLite transaction of the service."""

    store: str
    events: tuple[StoredEvent, ...]
    tracking: Tracking | None


@dataclass(frozen=True)
class Capture:
    setup: tuple[Write, ...]
    drive: tuple[Write, ...]
    cases: int

    @property
    def events(self) -> tuple[StoredEvent, ...]:
        return tuple(e for w in self.drive for e in w.events)

    def describe(self) -> dict[str, Any]:
        return {
            "transactions": len(self.drive),
            "tracking_only_transactions": sum(1 for w in self.drive if not w.events),
            "events": sum(len(w.events) for w in self.drive),
            "events_per_case": sum(len(w.events) for w in self.drive) / max(self.cases, 1),
            "mean_state_bytes": (sum(len(e.state) for e in self.events) / max(len(self.events), 1)),
            "events_by_store": {
                s: sum(len(w.events) for w in self.drive if w.store == s) for s in STORES},
        }


def capture(work: Workload, tmp_root: Path) -> Capture:
    """Run A once, untimed, recording every `insert_events` call with its tracking record.

    B replays exactly these calls, so both sides commit the same rows in the same
    transactions (one per aggregate save or per processed upstream event). The views
    ReportingRecorder writes in the same transaction are service work and are not
    replayed.
    """
    log: list[Write] = []
    with scratch(tmp_root, "bench-capture-") as home:
        clock = SettableClock(START)
        rt = EmbeddedRuntime(home, clock)
        try:
            for store, app in rt.services.items():
                _tap(app.recorder, store, log)
            _setup(rt, clock, work)
            boundary = len(log)
            case_ids = drive(rt, clock, work)
            check_delivered(rt, case_ids)
            recorded = stored_count(rt)
        finally:
            rt.close()
    result = Capture(tuple(log[:boundary]), tuple(log[boundary:]), len(work.cases))
    tapped = sum(len(w.events) for w in log)
    if tapped != recorded:
        raise RuntimeError(f"captured {tapped} events but the stores hold {recorded}: "
                           "some write bypasses insert_events, so B would not replay it")
    return result


def _tap(recorder: Any, store: str, log: list[Write]) -> None:
    original = recorder.insert_events

    def insert_events(stored_events: Any, **kwargs: Any) -> Any:
        log.append(Write(store, tuple(stored_events), kwargs.get("tracking")))
        return original(stored_events, **kwargs)

    recorder.insert_events = insert_events


# -- side B: the same transactions straight into fresh eventsourcing SQLite recorders ----

def _raw_recorder(path: Path) -> SQLiteProcessRecorder:
    # Same class and settings the services get from eventsourcing.sqlite (WAL, lock
    # timeout 30 s), minus the service: a process recorder, so tracking rows are written too.
    recorder = SQLiteProcessRecorder(SQLiteDatastore(db_name=str(path), lock_timeout=30))
    recorder.create_table()
    return recorder


def _replay(recorders: dict[str, SQLiteProcessRecorder], writes: tuple[Write, ...]) -> int:
    events = 0
    for write in writes:
        recorders[write.store].insert_events(write.events, tracking=write.tracking)
        events += len(write.events)
    return events


def run_raw(recorded: Capture, tmp_root: Path) -> Sample:
    """Side B: replay the captured calls into four fresh SQLite files (fresh temp dir)."""
    with scratch(tmp_root, "bench-b-") as home:
        recorders = {store: _raw_recorder(home / f"{store}.sqlite") for store in STORES}
        try:
            _replay(recorders, recorded.setup)
            settle()
            try:
                phase = timed("appends", lambda: _replay(recorders, recorded.drive))
            finally:
                unsettle()
        finally:
            for recorder in recorders.values():
                recorder.datastore.close()
    return Sample("raw eventsourcing SQLite appends", recorded.cases, [phase])
