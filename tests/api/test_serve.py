"""`cases serve` as a real process on a free port, called with a token from `cases token`:
what the acceptance suite does."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.cli import ROOT, Cases
from tests.fixtures import POLICY, REQUEST


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Cases]]:
    home = tmp_path / "home"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "--port", str(port), "--home", str(home)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # until it answers (it is starting), or it died
            if process.poll() is not None:
                raise AssertionError(f"cases serve exited: {process.stdout.read() if process.stdout else ''}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url, Cases(home)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_cases_serve_answers_with_tokens_from_cases_token(served: tuple[str, Cases]) -> None:
    url, cases = served
    assert httpx.get(f"{url}/cases").status_code == 401
    admin = cases("token", "--role", "admin", "--name", "Ada Admin")
    assert admin.code == 0, admin.stderr
    auditor = cases("token", "--role", "auditor", "--name", "Audrey Auditor").json["token"]
    as_admin = {"Authorization": f"Bearer {admin.json['token']}"}
    as_auditor = {"Authorization": f"Bearer {auditor}"}

    assert httpx.post(f"{url}/policies", content=json.dumps({"policies": [POLICY]}), headers=as_auditor).status_code == 403
    loaded = httpx.post(f"{url}/policies", content=json.dumps({"policies": [POLICY]}), headers=as_admin)
    assert loaded.status_code == 200 and loaded.json() == {"loaded": 1}
    opened = httpx.post(f"{url}/cases", content=json.dumps(REQUEST), headers=as_admin)
    assert opened.status_code == 201 and opened.json()["status"] == "accepted"
    case_id = opened.json()["case_id"]
    shown = httpx.get(f"{url}/cases/{case_id}", headers=as_auditor)
    assert shown.status_code == 200 and shown.json()["status"] == "awaiting_consent"
    # the CLI sees what the API recorded: one deployment, two doors
    assert cases("show", case_id).json["status"] == "awaiting_consent"
    assert httpx.get(f"{url}/openapi.json").json()["paths"]["/cases"]


def test_cases_token_refuses_bad_input_naming_the_option(tmp_path: Path) -> None:
    cases = Cases(tmp_path / "home")
    for args, field in ((("--role", "root", "--name", "x"), "--role"),
                        (("--role", "admin", "--name", " "), "--name"),
                        (("--role", "admin", "--name", "x", "--ttl-hours", "0"), "--ttl-hours"),
                        (("--role", "admin", "--name", "x", "--ttl-hours", "100000"), "--ttl-hours")):
        done = cases("token", *args)
        assert done.code == 2
        assert done.json["field"] == field
        assert "token" not in done.json
