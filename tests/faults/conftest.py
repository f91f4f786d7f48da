"""The slow fault tests (a 3-minute broker outage, a three-broker cluster losing a broker)
run only as their own step (infra/run-tests.sh sets CASES_SLOW_FAULTS=1 and selects them);
the main run leaves them out, so the suite's time stays what it was."""

from __future__ import annotations

import os

import pytest

SLOW = "slow_faults"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{SLOW}: slow fault tests on brokers of their own (own step)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CASES_SLOW_FAULTS") == "1":
        return
    slow = [item for item in items if item.get_closest_marker(SLOW)]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker(SLOW)]
