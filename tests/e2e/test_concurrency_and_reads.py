"""Many `cases` processes on one home or one database at once, and reads that never write.

Twenty opens and twenty consent grants start at the same moment as separate processes:
each prints its result (exit 0) and every case is recorded exactly once, on SQLite and on
PostgreSQL. Reads run on a home mounted read-only (or, not as root, made read-only)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from services.bootstrap import EmbeddedRuntime
from tests.e2e.cli import ROOT, Cases
from tests.fixtures import REQUEST, policy

PARALLEL = 20


def spawn(cases: Cases, *args: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "services.cli", *args, "--home", str(cases.home), "--json"]
    # CASES_DEBUG: a command that fails cleanly (exit 3) also prints its cause on stderr,
    # which the assertion below shows.
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "CASES_DEBUG": "1", **cases.env})


def all_at_once(cases: Cases, commands: list[list[str]]) -> list[tuple[int, str, str]]:
    procs = [spawn(cases, *command) for command in commands]
    with ThreadPoolExecutor(len(procs)) as pool:
        outputs = list(pool.map(lambda p: p.communicate(timeout=300), procs))
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]


def test_twenty_opens_and_twenty_grants_at_once_each_recorded_exactly_once(tmp_path: Path, store: str) -> None:
    cases = Cases(tmp_path / "home")
    assert cases("policies", "load", cases.write("policies.json", {"policies": [policy(model="in_house")]})).code == 0
    request = cases.write("case.json", REQUEST)

    opened = all_at_once(cases, [["open", request]] * PARALLEL)
    for code, _, err in opened:
        assert code == 0, err
        assert "Traceback" not in err
    case_ids = [json.loads(out)["case_id"] for _, out, _ in opened]
    assert len(set(case_ids)) == PARALLEL

    granted = all_at_once(cases, [["consent", "grant", cid, "--scope", "records_access"] for cid in case_ids])
    for code, out, err in granted:
        assert code == 0, err
        assert "records_access" in json.loads(out)["consents"]

    rt = EmbeddedRuntime(cases.home, readonly=True)
    try:
        opened_types = Counter(e.type_name for e in rt.intake.stored_events() if e.type_name == "case_opened")
        assert opened_types["case_opened"] == PARALLEL  # no case lost, none twice
        for cid in case_ids:
            state = rt.reporting.views.case_state(__import__("uuid").UUID(cid))
            assert state is not None and state["status"] == "collecting_records"
            trail = Counter(e.type_name for e in rt.reporting.views.audit_trail(__import__("uuid").UUID(cid)))
            assert trail["case_opened"] == 1 and trail["consent_granted"] == 1 and trail["case_file_opened"] == 1
    finally:
        rt.close()
    assert cases("verify").json["ok"] is True


def fingerprint(home: Path) -> dict[str, str]:
    """Every store and key file, byte for byte (SQLite's -shm index and an empty -wal are
    its coordination files on a writable folder, not stored data)."""
    return {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(home.rglob("*"))
            if p.is_file() and not p.name.endswith(("-shm", "-wal"))}


@pytest.fixture
def walked_home(tmp_path: Path) -> tuple[Cases, str]:
    cases = Cases(tmp_path / "home")
    cases("policies", "load", cases.write("policies.json", {"policies": [policy()]}))
    case = cases("open", cases.write("case.json", REQUEST)).json["case_id"]
    cases("consent", "grant", case, "--scope", "records_access")
    return cases, case


READS = [["show", "{case}"], ["replay", "{case}"], ["verify"], ["consent", "history", "{case}"],
         ["analytics"]]


def test_reads_change_no_byte_of_the_home(walked_home: tuple[Cases, str]) -> None:
    cases, case = walked_home
    before = fingerprint(cases.home)
    for read in READS:
        done = cases(*(a.format(case=case) for a in read))
        assert done.code == 0, done.stderr
    assert fingerprint(cases.home) == before


def test_reads_work_on_a_read_only_home(walked_home: tuple[Cases, str], tmp_path: Path) -> None:
    cases, case = walked_home
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "--bind", str(cases.home), str(readonly)], capture_output=True).returncode == 0
    try:
        if mounted:
            remount = subprocess.run(["mount", "-o", "remount,ro,bind", str(readonly)], capture_output=True)
            assert remount.returncode == 0, remount.stderr
        else:  # not root: file modes are enough
            assert os.geteuid() != 0, "as root this test needs mount --bind"
            readonly.rmdir()
            readonly = cases.home
            for path in [readonly, *readonly.rglob("*")]:
                path.chmod(0o555 if path.is_dir() else 0o444)
        ro = Cases(readonly)
        for read in READS:
            done = ro(*(a.format(case=case) for a in read))
            assert done.code == 0, (read, done.stderr)
            assert "Traceback" not in done.stderr
        assert ro("show", case).json["status"] == "collecting_records"
        assert ro("verify").json["ok"] is True
        # A command that writes fails cleanly: unavailable, nothing recorded, no traceback.
        refused = ro("consent", "grant", case, "--scope", "third_party_disclosure")
        assert refused.code == 3 and refused.json["error"] == "unavailable"
        assert "Traceback" not in refused.stderr
    finally:
        if mounted:
            subprocess.run(["umount", str(readonly)], check=True)
    assert "third_party_disclosure" not in cases("show", case).json["consents"]


def test_a_read_on_a_home_without_stores_says_so_and_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "nothing-here"
    done = Cases(home)("show", "91f172ba-bc75-4735-910c-e474cc5b2940")
    assert done.code == 2
    assert done.json["field"] == "--home" and "no case stores" in done.json["problem"]
    assert not home.exists()
