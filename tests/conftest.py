from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import Desk
from tests.stores import PG_DSN, STORES, store_environment

#: Packages whose every test module uses a broker: the secured one, or clusters of its own.
BROKER_PACKAGES = ("tests.security.", "tests.faults.")
#: Where a test module gets a Kafka broker from: the shared plain broker (and its lock), or
#: one of the packages above.
BROKER_SUPPORT = ("tests.kafka_support", *BROKER_PACKAGES)


def uses_a_broker(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    if module is None:
        return False
    if module.__name__.startswith(BROKER_PACKAGES):
        return True
    return any(getattr(value, "__module__", "").startswith(BROKER_SUPPORT)
               for value in vars(module).values() if callable(value))


BROKERS = "brokers"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{BROKERS}: uses a Kafka broker (set by tests/conftest.py)")


# A wrapper, so the mark is set before any plugin's own hook runs (-m selects in one).
@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    """Every test that uses a broker is marked `brokers`: `make test` runs those in a lane
    of their own, one after another as they must, beside a lane with all the others
    (infra/run-tests.sh). Found by what the module imports, so a new broker test module
    joins the lane without being listed."""
    for item in items:
        if uses_a_broker(item):
            item.add_marker(getattr(pytest.mark, BROKERS))
    return (yield)


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
