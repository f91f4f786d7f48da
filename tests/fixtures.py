"""Builders shared by the tests: a runtime on a temporary home, and sample files."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from services.bootstrap import EmbeddedRuntime
from services.common.context import LONDON, Context, SettableClock
from services.intake.register_file import parse_register
from services.intake.request_file import parse_case_request
from services.review.reviewers_file import parse_reviewers

POLICY = {
    "number": "AXA-100234", "insurer": "AXA Health", "product": "Personal Health",
    "start_date": "2024-03-01", "end_date": None, "status": "active",
    "underwriting": "moratorium", "exclusions": ["asthma"],
    "second_opinion": {"included": True, "model": "third_party", "sla_working_days": 10},
}

REQUEST = {
    "policy_number": "AXA-100234",
    "requested_on": "2025-06-12",
    "member": {"name": "Jane Doe", "date_of_birth": "1980-04-02", "nhs_number": "9434765919",
               "postcode": "SW1A 1AA", "email": "jane@example.org", "phone": "07700900123",
               "nation": "ENG"},
    "gp": {"name": "Dr A Smith", "practice": "High Street Surgery", "email": "gp@example.org"},
    "condition": {"name": "Rotator cuff tear", "icd10": "M75.1", "specialty": "orthopaedics",
                  "nature": "acute", "diagnosed_on": "2025-06-01", "history": []},
    "diagnosis": {"by": "Consultant orthopaedic surgeon", "summary": "Full-thickness tear on MRI"},
    "proposed_treatment": "Open surgical repair",
}

REVIEWERS = {"reviewers": [
    {"id": "IH-1", "name": "Dr Able", "kind": "in_house", "specialties": ["orthopaedics"], "organisation": "clinical_team"},
    {"id": "IH-2", "name": "Dr Baker", "kind": "in_house", "specialties": ["orthopaedics"], "organisation": "clinical_team"},
    {"id": "CS-1", "name": "Mr Carter FRCS", "kind": "consultant", "specialties": ["orthopaedics"], "organisation": "specialists"},
    {"id": "NET-1", "name": "Network triage", "kind": "network", "specialties": ["orthopaedics"], "organisation": "medexpert"},
]}

#: Thursday 12 June 2025, 09:00 London: when the tests open their cases.
START = datetime(2025, 6, 12, 9, 0, tzinfo=LONDON)


def policy(**changes: Any) -> dict[str, Any]:
    p = copy.deepcopy(POLICY)
    for key, value in changes.items():
        if key in ("model", "sla_working_days", "included"):
            p["second_opinion"][key] = value
        else:
            p[key] = value
    return p


def request(**changes: Any) -> dict[str, Any]:
    r = copy.deepcopy(REQUEST)
    for key, value in changes.items():
        if key in ("nation", "nhs_number", "name"):
            r["member"][key] = value
        else:
            r[key] = value
    return r


class Desk:
    """A case handler's desk over an embedded runtime with a clock the test moves."""

    def __init__(self, home: Path, now: datetime = START):
        self.clock = SettableClock(now)
        self.home = home
        self.rt = EmbeddedRuntime(home, self.clock)

    def ctx(self, actor: str = "user:tester") -> Context:
        return Context(actor=actor, now=self.clock.now())

    def later(self, **delta: float) -> None:
        self.clock.advance(**delta)

    def load_policies(self, *policies: dict[str, Any]) -> None:
        self.rt.intake.load_policies(parse_register(json.dumps({"policies": list(policies)})), self.ctx())
        self.rt.review.register_reviewers(parse_reviewers(json.dumps(REVIEWERS)), self.ctx())
        self.rt.pump()

    def open(self, req: dict[str, Any] | None = None) -> UUID:
        ctx = self.ctx()
        opened = self.rt.intake.open_case(parse_case_request(json.dumps(req or REQUEST), ctx.today), ctx)
        self.rt.pump()
        return opened.case_id

    def act(self, command: Any, *args: Any, actor: str = "user:tester") -> None:
        command(*args, self.ctx(actor))
        self.rt.pump()

    def state(self, case_id: UUID) -> dict[str, Any]:
        return self.rt.reporting.case_state(case_id)

    def types(self, case_id: UUID) -> list[str]:
        return [e.type_name for e in self.rt.reporting.views.audit_trail(case_id)]

    def to_review(self, case_id: UUID, model: str = "third_party") -> None:
        self.act(self.rt.records.grant_consent, case_id, "records_access", "portal")
        self.act(self.rt.records.add_record, case_id, "imaging", "Hospital radiology")
        self.act(self.rt.records.complete_records, case_id)
        if model == "third_party":
            self.act(self.rt.records.grant_consent, case_id, "third_party_disclosure", "portal")

    def close(self) -> None:
        self.rt.close()
