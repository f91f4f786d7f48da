from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import Desk
from tests.stores import PG_DSN, STORES, store_environment


def pytest_sessionstart(session: pytest.Session) -> None:
    # `make test` promises the real services; never let them go missing silently.
    if os.environ.get("CASES_REQUIRE_SERVICES") == "1" and not PG_DSN:
        raise pytest.UsageError("CASES_REQUIRE_SERVICES=1 but CASES_TEST_PG_DSN is not set")


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with store_environment(request.param) as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield request.param


@pytest.fixture
def desk(tmp_path: Path, store: str) -> Iterator[Desk]:
    d = Desk(tmp_path / "home")
    yield d
    d.close()
