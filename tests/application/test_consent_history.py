"""Consent history: every grant and withdrawal per case and member, with who, when, how."""

from __future__ import annotations

from tests.fixtures import Desk, policy


def test_every_grant_and_withdrawal_is_kept_in_order(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.act(desk.rt.records.grant_consent, case, "records_access", "portal", actor="member")
    desk.later(hours=2)
    desk.act(desk.rt.records.withdraw_consent, case, "records_access", "phone", actor="user:handler")
    desk.later(hours=2)
    desk.act(desk.rt.records.grant_consent, case, "records_access", "letter", actor="member")
    desk.act(desk.rt.records.grant_consent, case, "share_with_gp", "portal", actor="member")

    history = desk.rt.reporting.views.consent_history(case)
    assert [(h["scope"], h["action"], h["channel"], h["actor"]) for h in history] == [
        ("records_access", "granted", "portal", "member"),
        ("records_access", "withdrawn", "phone", "user:handler"),
        ("records_access", "granted", "letter", "member"),
        ("share_with_gp", "granted", "portal", "member"),
    ]
    assert [h["at"] for h in history] == sorted(h["at"] for h in history)
    member = desk.state(case)["member_ref"]
    assert {h["member_ref"] for h in history} == {member}
    assert desk.state(case)["consents"] == ["records_access", "share_with_gp"]


def test_the_same_member_has_the_same_reference_across_cases(desk: Desk) -> None:
    desk.load_policies(policy())
    first, second = desk.open(), desk.open()
    assert desk.state(first)["member_ref"] == desk.state(second)["member_ref"]
