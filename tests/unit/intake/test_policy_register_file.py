"""The policy register file of SPEC section 3."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest

from services.common.errors import BadInput
from services.intake.register_file import parse_register

SPEC_POLICY: dict[str, Any] = {
    "number": "AXA-100234",
    "insurer": "AXA Health",
    "product": "Personal Health",
    "start_date": "2024-03-01",
    "end_date": None,
    "status": "active",
    "underwriting": "moratorium",
    "exclusions": ["M75", "asthma"],
    "second_opinion": {"included": True, "model": "third_party", "sla_working_days": 10},
}


def a_policy(**changes: Any) -> dict[str, Any]:
    """The SPEC example policy; `second_opinion__model=...` sets a nested field."""
    data = copy.deepcopy(SPEC_POLICY)
    for key, value in changes.items():
        *parents, last = key.split("__")
        target = data
        for part in parents:
            target = target[part]
        target[last] = value
    return data


def register(*policies: dict[str, Any]) -> str:
    return json.dumps({"policies": list(policies or [a_policy()])})


def bad_field(text: str) -> str:
    with pytest.raises(BadInput) as caught:
        parse_register(text)
    assert caught.value.problem
    return caught.value.field


# --- accepted ----------------------------------------------------------------------------


def test_the_spec_example_loads():
    [terms] = parse_register(register())
    assert terms.number == "AXA-100234"
    assert terms.insurer == "AXA Health"
    assert terms.product == "Personal Health"
    assert terms.start_date == date(2024, 3, 1)
    assert terms.end_date is None
    assert terms.status == "active"
    assert terms.underwriting == "moratorium"
    assert tuple(terms.exclusions) == ("M75", "asthma")
    assert terms.second_opinion.included is True
    assert terms.second_opinion.model == "third_party"
    assert terms.second_opinion.sla_working_days == 10


def test_several_policies_load_in_order():
    loaded = parse_register(
        register(a_policy(), a_policy(number="BUPA-7", end_date="2026-02-28", status="lapsed"))
    )
    assert [p.number for p in loaded] == ["AXA-100234", "BUPA-7"]
    assert loaded[1].end_date == date(2026, 2, 28)
    assert loaded[1].status == "lapsed"


def test_an_empty_register_loads_nothing():
    assert parse_register(json.dumps({"policies": []})) == []


def test_sla_working_days_defaults_to_10():
    policy = a_policy()
    del policy["second_opinion"]["sla_working_days"]
    [terms] = parse_register(register(policy))
    assert terms.second_opinion.sla_working_days == 10


@pytest.mark.parametrize("days", [1, 30])
def test_sla_working_days_at_the_limits_are_accepted(days):
    [terms] = parse_register(register(a_policy(second_opinion__sla_working_days=days)))
    assert terms.second_opinion.sla_working_days == days


@pytest.mark.parametrize("status", ["active", "lapsed", "cancelled"])
def test_each_status_is_accepted(status):
    [terms] = parse_register(register(a_policy(status=status)))
    assert terms.status == status


@pytest.mark.parametrize(
    "underwriting", ["moratorium", "full_medical", "medical_history_disregarded"]
)
def test_each_underwriting_is_accepted(underwriting):
    [terms] = parse_register(register(a_policy(underwriting=underwriting)))
    assert terms.underwriting == underwriting


@pytest.mark.parametrize("model", ["in_house", "third_party", "further_consultation"])
def test_each_delivery_model_is_accepted(model):
    [terms] = parse_register(register(a_policy(second_opinion__model=model)))
    assert terms.second_opinion.model == model


# --- refused -----------------------------------------------------------------------------


@pytest.mark.parametrize("days", [0, 31, -1])
def test_sla_working_days_outside_1_to_30_are_refused(days):
    text = register(a_policy(second_opinion__sla_working_days=days))
    assert bad_field(text) == "policies[0].second_opinion.sla_working_days"


@pytest.mark.parametrize("status", ["suspended", "Active", ""])
def test_an_unknown_status_is_refused(status):
    assert bad_field(register(a_policy(status=status))) == "policies[0].status"


@pytest.mark.parametrize("underwriting", ["full", "fmu", "disregarded"])
def test_an_unknown_underwriting_is_refused(underwriting):
    assert bad_field(register(a_policy(underwriting=underwriting))) == "policies[0].underwriting"


@pytest.mark.parametrize("model", ["external", "partner", "in-house"])
def test_an_unknown_delivery_model_is_refused(model):
    text = register(a_policy(second_opinion__model=model))
    assert bad_field(text) == "policies[0].second_opinion.model"


@pytest.mark.parametrize("value", ["01/03/2024", "2024-3-1", "20240301", "2024-02-30"])
def test_a_bad_start_date_is_refused(value):
    assert bad_field(register(a_policy(start_date=value))) == "policies[0].start_date"


def test_a_bad_end_date_is_refused():
    assert bad_field(register(a_policy(end_date="31/12/2026"))) == "policies[0].end_date"


def test_the_bad_policy_is_named_by_its_index():
    text = register(a_policy(), a_policy(number="BUPA-7", status="void"))
    assert bad_field(text) == "policies[1].status"


@pytest.mark.parametrize(
    "field", ["number", "start_date", "status", "underwriting", "second_opinion"]
)
def test_a_missing_policy_field_is_named(field):
    policy = a_policy()
    del policy[field]
    assert bad_field(register(policy)) == f"policies[0].{field}"


def test_malformed_json_names_the_file():
    assert bad_field('{"policies": [') == "file"


# --- hardening (issue 9 point 6) ---------------------------------------------------------

BLANKS = ["", " ", "\t\n", "\u00a0", "\u2003", " \u00a0\u2003 ", "\u200b"]


@pytest.mark.parametrize("field", ["number", "insurer", "product"])
@pytest.mark.parametrize("blank", BLANKS)
def test_a_required_text_empty_or_only_whitespace_is_refused(field, blank):
    assert bad_field(register(a_policy(**{field: blank}))) == f"policies[0].{field}"


@pytest.mark.parametrize(
    "field",
    ["number", "insurer", "product", "start_date", "status", "underwriting", "second_opinion"],
)
def test_null_for_a_required_field_is_refused(field):
    assert bad_field(register(a_policy(**{field: None}))) == f"policies[0].{field}"


def test_null_for_the_included_flag_is_refused():
    text = register(a_policy(second_opinion__included=None))
    assert bad_field(text) == "policies[0].second_opinion.included"


def test_null_policies_is_refused():
    assert bad_field(json.dumps({"policies": None})) == "policies"


def test_a_null_end_date_is_open_ended():
    [terms] = parse_register(register(a_policy(end_date=None)))
    assert terms.end_date is None


def test_null_exclusions_mean_none():
    [terms] = parse_register(register(a_policy(exclusions=None)))
    assert tuple(terms.exclusions) == ()


def test_null_sla_working_days_means_the_default_10():
    [terms] = parse_register(register(a_policy(second_opinion__sla_working_days=None)))
    assert terms.second_opinion.sla_working_days == 10


def test_a_null_model_is_accepted_when_the_benefit_is_not_included():
    text = register(a_policy(second_opinion={"included": False, "model": None}))
    [terms] = parse_register(text)
    assert terms.second_opinion.included is False
    assert terms.second_opinion.model is None


def test_a_null_model_is_refused_when_the_benefit_is_included():
    text = register(a_policy(second_opinion__model=None))
    assert bad_field(text).startswith("policies[0].second_opinion")


@pytest.mark.parametrize(
    "field, value",
    [
        ("number", 100234),
        ("insurer", ["AXA"]),
        ("exclusions", "M75"),
        ("start_date", 20240301),
        ("second_opinion", True),
    ],
)
def test_a_wrong_json_type_is_refused_naming_the_field(field, value):
    assert bad_field(register(a_policy(**{field: value}))) == f"policies[0].{field}"


@pytest.mark.parametrize("value", ["10", 10.0, True])
def test_sla_working_days_must_be_a_whole_number(value):
    text = register(a_policy(second_opinion__sla_working_days=value))
    assert bad_field(text) == "policies[0].second_opinion.sla_working_days"


@pytest.mark.parametrize("value", ["２０２４-０３-０１", "2024-03-01T00:00", " 2024-03-01"])
def test_a_start_date_with_other_digits_or_a_time_is_refused(value):
    assert bad_field(register(a_policy(start_date=value))) == "policies[0].start_date"


def test_a_null_exclusion_entry_is_refused_naming_its_index():
    text = register(a_policy(exclusions=["M75", None]))
    assert bad_field(text) == "policies[0].exclusions[1]"
