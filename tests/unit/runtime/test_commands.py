"""Commands sent to a service's own worker (services/runtime/commands.py): what a caller
sees when the command is done, refused, badly signed, or when no worker runs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from services.common.context import Context
from services.common.errors import BadInput, Refused, ServiceUnavailable
from services.intake.request_file import parse_case_request
from services.runtime.commands import CommandEndpoint, RemoteCommands, decode, encode, sign
from tests.fixtures import REQUEST

KEY = b"k" * 32


class Desk:
    """Stands in for a service application: its commands, and one read."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def open_case(self, request: Any, ctx: Context) -> dict[str, Any]:
        self.seen.append((request, ctx))
        return {"case_id": uuid4(), "on": ctx.today}

    def refuse(self) -> None:
        raise Refused("case_cancelled", "the case was cancelled")

    def bad(self) -> None:
        raise BadInput("--scope", "must be one of records_access, ...")

    def crash(self) -> None:
        raise RuntimeError("a value that must not travel: Jane Doe")

    def status(self) -> str:
        return "read locally"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Desk, CommandEndpoint, RemoteCommands]]:
    desk = Desk()
    endpoint = CommandEndpoint(desk, "intake", {"open_case", "refuse", "bad", "crash"}, KEY, tmp_path)
    running = True

    def worker_loop() -> None:  # the worker's own thread runs the commands
        while running:
            endpoint.poll_once()
            time.sleep(0.005)

    thread = threading.Thread(target=worker_loop, daemon=True)
    thread.start()
    remote = RemoteCommands("intake", {"open_case", "refuse", "bad", "crash"}, KEY, tmp_path, reader=desk)
    try:
        yield desk, endpoint, remote
    finally:
        running = False
        thread.join()
        endpoint.close()


def test_a_command_runs_in_the_worker_with_its_typed_arguments(served: tuple[Desk, CommandEndpoint, RemoteCommands]) -> None:
    desk, _, remote = served
    request = parse_case_request(json.dumps(REQUEST), date(2025, 6, 20))
    ctx = Context("cli:tester", datetime(2025, 6, 20, 9, tzinfo=UTC))
    result = remote.open_case(request, ctx)
    assert result["on"] == date(2025, 6, 20)
    (received, received_ctx), = desk.seen
    assert received == request and type(received) is type(request)
    assert received_ctx == ctx


def test_refusals_and_bad_input_travel_back_as_themselves(served: tuple[Desk, CommandEndpoint, RemoteCommands]) -> None:
    _, _, remote = served
    with pytest.raises(Refused) as refused:
        remote.refuse()
    assert refused.value.code == "case_cancelled"
    with pytest.raises(BadInput) as bad:
        remote.bad()
    assert bad.value.field == "--scope"


def test_a_failure_names_its_kind_never_its_values(served: tuple[Desk, CommandEndpoint, RemoteCommands]) -> None:
    _, _, remote = served
    with pytest.raises(ServiceUnavailable) as failed:
        remote.crash()
    assert "RuntimeError" in str(failed.value) and "Jane" not in str(failed.value)


def test_reads_are_answered_by_the_local_reader(served: tuple[Desk, CommandEndpoint, RemoteCommands]) -> None:
    _, _, remote = served
    assert remote.status() == "read locally"


def test_an_unsigned_or_foreign_command_is_refused_and_never_runs(served: tuple[Desk, CommandEndpoint, RemoteCommands]) -> None:
    desk, endpoint, _ = served
    body = json.dumps({"method": "open_case", "args": [], "kwargs": {}}).encode()
    at = repr(time.time())
    for headers in ({}, {"X-Cases-At": at, "X-Cases-Signature": sign(b"x" * 32, body, at)},
                    {"X-Cases-At": repr(time.time() - 3600), "X-Cases-Signature": sign(KEY, body, repr(time.time() - 3600))}):
        answer = httpx.post(f"{endpoint.url}/command", content=body, headers=headers)
        assert answer.status_code == 401
    assert desk.seen == []


def test_a_method_that_is_not_a_command_is_not_served(served: tuple[Desk, CommandEndpoint, RemoteCommands]) -> None:
    _, endpoint, _ = served
    body = json.dumps({"method": "status", "args": [], "kwargs": {}}).encode()
    at = repr(time.time())
    answer = httpx.post(f"{endpoint.url}/command", content=body,
                        headers={"X-Cases-At": at, "X-Cases-Signature": sign(KEY, body, at)})
    assert answer.status_code == 404


def test_with_no_worker_running_nothing_is_sent_and_the_caller_is_told(tmp_path: Path) -> None:
    remote = RemoteCommands("records", {"grant_consent"}, KEY, tmp_path, reader=None)
    with pytest.raises(ServiceUnavailable) as away:
        remote.grant_consent(uuid4(), "records_access")
    assert "records worker is not running" in str(away.value)


def test_only_this_projects_models_are_rebuilt_from_a_command() -> None:
    assert decode(encode((uuid4(), date(2025, 1, 2)))) is not None
    with pytest.raises(ValueError):
        decode({"$dataclass": "subprocess:Popen", "fields": {"args": ["true"]}})
