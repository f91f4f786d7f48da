"""Who may give an opinion, a review waiting for a reviewer, and what a read sees of the SLA
clock before it ticked."""

from __future__ import annotations

import json

import pytest

from services.common.errors import Refused
from services.review.reviewers_file import parse_reviewers
from tests.fixtures import REVIEWERS, Desk, policy


def test_an_opinion_must_come_from_the_assigned_reviewer(desk: Desk) -> None:
    desk.load_policies(policy(model="in_house"))
    case = desk.open()
    desk.to_review(case, model="in_house")
    review = desk.state(case)["review"]
    other = "Dr Baker" if review["reviewer"] == "Dr Able" else "Dr Able"
    with pytest.raises(Refused) as refused:
        desk.act(desk.rt.review.submit_opinion, case, "confirmed", "Agree", other)
    assert refused.value.code == "not_assigned_reviewer"
    assert "opinion_submitted" not in desk.types(case)
    # By name (case and spacing aside) or by directory id.
    desk.act(desk.rt.review.submit_opinion, case, "confirmed", "Agree", "  " + review["reviewer"].upper())
    assert desk.state(case)["opinion"]["outcome"] == "confirmed"


def test_an_opinion_on_a_review_waiting_for_a_reviewer_is_refused(desk: Desk) -> None:
    desk.load_policies(policy(model="in_house"))
    case = desk.open()
    desk.to_review(case, model="in_house")
    desk.act(desk.rt.review.declare_conflict, case, "treated the member")
    desk.act(desk.rt.review.declare_conflict, case, "same practice")
    with pytest.raises(Refused) as refused:
        desk.act(desk.rt.review.submit_opinion, case, "confirmed", "Agree", "Dr Able")
    assert refused.value.code == "no_reviewer_assigned"


def test_a_review_with_nobody_in_the_directory_waits_then_is_assigned_when_reviewers_load(tmp_path, store) -> None:  # type: ignore[no-untyped-def]
    desk = Desk(tmp_path / "home")
    try:
        # The register only: no reviewer of any kind yet.
        from services.intake.register_file import parse_register

        desk.rt.intake.load_policies(parse_register(json.dumps({"policies": [policy(model="in_house")]})), desk.ctx())
        case = desk.open()
        desk.to_review(case, model="in_house")
        state = desk.state(case)
        assert state["status"] == "in_review" and state["waiting_for_reviewer"] is True
        desk.act(desk.rt.review.register_reviewers, parse_reviewers(json.dumps(REVIEWERS)))
        state = desk.state(case)
        assert state["waiting_for_reviewer"] is False
        assert state["review"]["reviewer"] in ("Dr Able", "Dr Baker")
        assert desk.types(case).count("reviewer_assigned") == 1
        # Loading the directory again assigns nobody twice.
        desk.act(desk.rt.review.register_reviewers, parse_reviewers(json.dumps(REVIEWERS)))
        assert desk.types(case).count("reviewer_assigned") == 1
    finally:
        desk.close()


def test_a_read_shows_a_review_past_its_due_date_as_breached_before_the_clock_ticked(desk: Desk) -> None:
    desk.load_policies(policy(sla_working_days=5))
    case = desk.open()
    desk.to_review(case)  # due Thursday 19 June
    desk.later(days=8)  # Friday 20 June; no tick has run
    assert "review_sla_breached" not in desk.types(case)
    assert desk.state(case)["sla_breached"] is True  # as seen today
    desk.rt.tick()
    assert desk.types(case).count("review_sla_breached") == 1
    assert desk.state(case)["sla_breached"] is True
