"""schemathesis over /openapi.json with an admin's token: generated requests to every
operation find no server error and no response that breaks the documented schema."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import Api

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance,
          content_type_conformance]
# schemathesis reads the schema when the module loads, so the app (and its home) exist by then.
HOME = Path(tempfile.mkdtemp(prefix="cases-api-fuzz-"))
FUZZED = Api(HOME / "home")
schema = schemathesis.openapi.from_asgi("/openapi.json", FUZZED.app)


@pytest.fixture(scope="module", autouse=True)
def some_cases() -> Iterator[None]:
    """Registers and a few cases, so generated requests meet real data as well as nonsense."""
    FUZZED.load_registers()
    FUZZED.to_review(FUZZED.open())
    FUZZED.open()
    yield
    shutil.rmtree(HOME, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_every_response_as_documented(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=FUZZED.as_("admin"), checks=CHECKS)
