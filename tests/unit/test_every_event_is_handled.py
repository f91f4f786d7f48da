"""Every event type a service's leaders publish is either handled by the service or listed
as deliberately ignored; every case event is folded by reporting's case state or listed as
changing none of its fields. A new event type fails here until someone decides."""

from __future__ import annotations

import pytest

from events.envelope import CaseEvent
from events.registry import REGISTRY
from services.bootstrap import PIPES
from services.intake.application import Intake
from services.records.application import Records
from services.reporting.projections.case_state import HANDLERS, IGNORED
from services.review.application import Review

APPLICATIONS = {"intake": Intake, "records": Records, "review": Review}


@pytest.mark.parametrize(("leader", "follower"), [p for p in PIPES if p[1] in APPLICATIONS])
def test_each_leader_event_is_handled_or_ignored(leader: str, follower: str) -> None:
    app = APPLICATIONS[follower]
    published = {cls for cls in REGISTRY.values() if getattr(cls, "service", None) == leader}
    assert published, f"{leader} publishes nothing?"
    undecided = sorted(cls.type_name for cls in published - set(app.reactions) - app.ignores)
    assert not undecided, f"{follower} neither handles nor ignores {undecided} from {leader}"
    assert not set(app.reactions) & app.ignores, "an event is either handled or ignored"


def test_each_case_event_is_folded_or_listed_as_changing_nothing() -> None:
    case_events = {name for name, cls in REGISTRY.items() if issubclass(cls, CaseEvent)}
    domain_events = set(REGISTRY)
    undecided = sorted(domain_events - set(HANDLERS) - IGNORED)
    assert not undecided, f"reporting's case state neither folds nor ignores {undecided}"
    assert not set(HANDLERS) & IGNORED
    assert case_events <= domain_events
