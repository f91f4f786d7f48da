from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.secure_bus import SecureBroker, exclusive_secure_bus, secure_broker


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[SecureBroker]:
    """The secured broker, its secrets in effect for this test's clients (and the processes
    it starts), the case topics to itself."""
    found = secure_broker()
    monkeypatch.setenv("CASES_KAFKA_SECRETS", str(found.secrets))
    with exclusive_secure_bus():
        yield found
