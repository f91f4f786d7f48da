"""The API over the embedded runtime on a temporary home, and a token for each role."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.api.auth import issue_token
from services.bootstrap import load_keys
from tests.fixtures import POLICY, REQUEST, REVIEWERS, policy

#: The names the tokens carry (a clinician's name is a reviewer's, from the directory).
NAMES = {"case_handler": "Hannah Handler", "clinician": "Dr Able", "auditor": "Audrey Auditor",
         "admin": "Ada Admin"}
#: Every direct identifier of the sample request's member and GP.
IDENTIFIERS = ("Jane Doe", "Jane", "Doe", "9434765919", "943 476 5919", "1980-04-02", "SW1A 1AA",
               "jane@example.org", "07700900123", "Dr A Smith", "High Street Surgery", "gp@example.org")


class Api:
    """A TestClient with helpers: tokens per role, and the sample registers loaded."""

    def __init__(self, home: Path):
        self.home = home
        self.app = create_app(home)
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.key = load_keys(home).tokens

    def token(self, role: str, name: str | None = None) -> str:
        return issue_token(self.key, role, name or NAMES[role])

    def as_(self, role: str, name: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, name)}"}

    def call(self, method: str, path: str, role: str | None = None, body: Any = None,
             name: str | None = None, **kwargs: Any) -> Any:
        headers = self.as_(role, name) if role else {}
        content = None if body is None else (body if isinstance(body, str) else json.dumps(body))
        return self.client.request(method, path, headers=headers, content=content, **kwargs)

    def load_registers(self) -> None:
        in_house = policy(number="AXA-200300", model="in_house")
        assert self.call("POST", "/policies", "admin", {"policies": [POLICY, in_house]}).status_code == 200
        assert self.call("POST", "/reviewers", "admin", REVIEWERS).status_code == 200

    def open(self, **changes: Any) -> str:
        response = self.call("POST", "/cases", "case_handler", {**REQUEST, **changes})
        assert response.status_code == 201, response.text
        return str(response.json()["case_id"])

    def to_review(self, case_id: str, third_party: bool = True) -> None:
        steps: list[tuple[str, Any]] = [("consents/grant", {"scope": "records_access"}),
                                        ("records", {"kind": "imaging", "source": "Hospital radiology"}),
                                        ("records/complete", None)]
        if third_party:
            steps.append(("consents/grant", {"scope": "third_party_disclosure"}))
        for path, body in steps:
            response = self.call("POST", f"/cases/{case_id}/{path}", "case_handler", body)
            assert response.status_code == 200, response.text
        assert self.call("GET", f"/cases/{case_id}", "admin").json()["status"] == "in_review"

    def events(self) -> int:
        """How many events the stores hold: verify's count."""
        result = self.call("GET", "/verify", "admin").json()
        assert result["ok"], result
        return int(result["events"])


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield Api(tmp_path / "home")


@pytest.fixture
def walked(api: Api) -> Iterator[tuple[Api, dict[str, str]]]:
    """Registers loaded; an in-house case in review (`reviewer`: the name of the clinician
    the directory assigned it to), a network case in review, a fresh case awaiting consent."""
    api.load_registers()
    in_house = api.open(policy_number="AXA-200300",
                        proposed_treatment="Open surgical repair for Jane Doe (NHS 943 476 5919)")
    api.to_review(in_house, third_party=False)
    network = api.open()
    api.to_review(network)
    fresh = api.open()
    reviewer = api.call("GET", f"/cases/{in_house}", "admin").json()["review"]["reviewer"]
    yield api, {"in_house": in_house, "network": network, "fresh": fresh, "reviewer": reviewer}
