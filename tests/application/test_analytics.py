"""`cases analytics` embedded: weekly aggregates from the stores, with no identifier."""

from __future__ import annotations

import json

from services.bootstrap import load_keys
from services.reporting.analytics.facts import analytics_fact
from services.reporting.analytics.weekly import weekly_aggregates
from tests.fixtures import REQUEST, Desk, policy, request


def test_weekly_aggregates_count_opened_accepted_declined_and_turnaround(desk: Desk) -> None:
    desk.load_policies(policy(), policy(number="OLD-1", status="lapsed"))
    walked = desk.open()
    desk.to_review(walked)
    desk.later(days=4)
    desk.act(desk.rt.review.submit_opinion, walked, "confirmed", "Agree", "Dr X")
    desk.open(request(policy_number="OLD-1"))
    desk.open(request(policy_number="NOPE"))
    key = load_keys(desk.home).analytics
    facts = [analytics_fact(state, key) for state in desk.rt.reporting.views.all_states()]
    [week] = weekly_aggregates(facts)
    assert week["week"] == "2025-W24"
    assert (week["opened"], week["accepted"], week["declined"]) == (3, 1, 2)
    assert week["declined_by_reason"] == {"policy_not_in_force": 1, "policy_not_found": 1}
    assert week["opinions"] == 1 and week["median_working_days_to_opinion"] == 2
    assert week["sla_breach_rate"] == 0.0
    text = json.dumps(week) + "".join(f.model_dump_json() for f in facts)
    for value in (REQUEST["member"]["name"], REQUEST["member"]["nhs_number"], REQUEST["member"]["postcode"]):
        assert value not in text
