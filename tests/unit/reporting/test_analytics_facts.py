"""Analytics facts: built from real fold states by allow-list, de-identified, deterministic."""

from __future__ import annotations

import json
import random
from datetime import datetime
from uuid import UUID

import pytest

from events.analytics import AnalyticsCaseFact
from services.reporting.analytics.facts import (
    CaseNotReady,
    FactBook,
    analytics_fact,
    analytics_ref,
)
from services.reporting.projections.case_state import fold
from tests.fixtures import REQUEST, Desk, policy

KEY = bytes(range(32))

IDENTIFIERS = [
    REQUEST["member"]["name"],
    REQUEST["member"]["nhs_number"],
    REQUEST["member"]["date_of_birth"],
    REQUEST["member"]["postcode"],
    REQUEST["member"]["postcode"].replace(" ", ""),
    REQUEST["member"]["email"],
    REQUEST["member"]["phone"],
    REQUEST["gp"]["name"],
    REQUEST["gp"]["practice"],
    REQUEST["gp"]["email"],
]


def concluded_case(desk: Desk) -> UUID:
    desk.load_policies(policy())
    case = desk.open()
    desk.to_review(case)
    desk.later(days=4)  # Monday 16 June 2025
    desk.act(desk.rt.review.submit_opinion, case, "alternative_treatment", "Physio first",
             "Dr Expert")
    desk.act(desk.rt.records.grant_consent, case, "share_with_gp", "portal")
    desk.act(desk.rt.reporting.deliver_report, case)
    return case


def state_of(desk: Desk, case: UUID) -> dict:
    return fold(desk.rt.reporting.views.audit_trail(case))


def identifiers_of(case: UUID) -> list[str]:
    return [*IDENTIFIERS, str(case), case.hex]


def test_a_concluded_case_fact_carries_the_business_fields(desk: Desk) -> None:
    case = concluded_case(desk)
    state = state_of(desk, case)
    fact = analytics_fact(state, KEY)
    assert fact.type == "analytics_case_fact" and fact.schema_version == 1
    assert fact.analytics_ref == analytics_ref(case, KEY)
    assert fact.week == "2025-W24"  # Thursday 12 June 2025
    assert fact.as_of == datetime.fromisoformat(state["updated_at"])
    assert fact.model == "third_party"
    assert (fact.insurer, fact.product) == ("AXA Health", "Personal Health")
    assert (fact.specialty, fact.nation, fact.age_band) == ("orthopaedics", "ENG", "40-49")
    assert fact.status == "report_issued"
    assert (fact.decision, fact.declined_reasons) == ("accepted", ())
    assert fact.outcome == "alternative_treatment"
    assert fact.working_days_to_opinion == state["opinion"]["working_days_used"] == 2
    assert fact.sla_met is True and fact.sla_breached is False


def test_the_fact_holds_no_direct_identifier_nor_the_case_id(desk: Desk) -> None:
    case = concluded_case(desk)
    state = state_of(desk, case)
    text = analytics_fact(state, KEY).model_dump_json()
    for value in identifiers_of(case):
        assert value.lower() not in text.lower(), value


def test_fields_reach_the_fact_only_by_the_allow_list(desk: Desk) -> None:
    case = concluded_case(desk)
    state = state_of(desk, case)
    # Whatever a later fold adds to the state stays out of the fact.
    polluted = {**state, "name": REQUEST["member"]["name"], "member": REQUEST["member"],
                "postcode": REQUEST["member"]["postcode"], "gp": REQUEST["gp"]}
    assert analytics_fact(polluted, KEY) == analytics_fact(state, KEY)
    assert set(json.loads(analytics_fact(state, KEY).model_dump_json())) == set(
        AnalyticsCaseFact.model_fields)


def test_the_same_state_always_gives_the_same_fact(desk: Desk) -> None:
    case = concluded_case(desk)
    state = state_of(desk, case)
    first = analytics_fact(state, KEY)
    assert analytics_fact(json.loads(json.dumps(state)), KEY) == first
    assert analytics_fact(state, KEY).model_dump_json() == first.model_dump_json()
    assert analytics_fact(state_of(desk, case), KEY) == first
    # The pseudonym depends on the key: another deployment cannot link the two.
    assert analytics_fact(state, bytes(32)).analytics_ref != first.analytics_ref


def test_the_fact_round_trips_through_its_json(desk: Desk) -> None:
    case = concluded_case(desk)
    fact = analytics_fact(state_of(desk, case), KEY)
    assert AnalyticsCaseFact.model_validate_json(fact.model_dump_json()) == fact


def test_a_declined_case_carries_its_reasons(desk: Desk) -> None:
    desk.load_policies(policy(status="lapsed"))
    case = desk.open()
    fact = analytics_fact(state_of(desk, case), KEY)
    assert fact.status == "declined" and fact.decision == "declined"
    assert fact.declined_reasons == ("policy_not_in_force",)
    assert fact.model is None and fact.outcome is None
    assert fact.working_days_to_opinion is None and fact.sla_met is None
    assert fact.insurer == "AXA Health"
    text = fact.model_dump_json()
    for value in identifiers_of(case):
        assert value.lower() not in text.lower(), value


def test_a_case_without_its_opening_has_no_fact_yet(desk: Desk) -> None:
    case = concluded_case(desk)
    trail = desk.rt.reporting.views.audit_trail(case)
    with pytest.raises(CaseNotReady):
        analytics_fact(fold([e for e in trail if e.service != "intake"]), KEY)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError):
        analytics_ref("00000000-0000-4000-8000-000000000000", b"short")


def test_the_fact_book_hands_back_only_changed_facts_in_any_arrival_order(desk: Desk) -> None:
    case = concluded_case(desk)
    trail = desk.rt.reporting.views.audit_trail(case)
    assert "member_identified" in {e.type_name for e in trail}
    expected = analytics_fact(fold(trail), KEY)

    book = FactBook(KEY)
    shuffled = list(trail)
    random.Random(7).shuffle(shuffled)
    published = [fact for event in shuffled for fact in book.add([event])]
    assert published[-1] == expected
    assert len(published) == len({f.model_dump_json() for f in published})  # no repeats
    assert book.add(trail) == []  # redelivered: nothing changed
    assert all(e.type_name != "member_identified" for e in book.events[str(case)])
