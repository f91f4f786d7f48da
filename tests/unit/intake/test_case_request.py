"""The case request file of SPEC section 4: what is accepted and what is bad input."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest

from services.common.errors import BadInput
from services.intake.request_file import parse_case_request

TODAY = date(2025, 6, 20)

SPEC_EXAMPLE: dict[str, Any] = {
    "policy_number": "AXA-100234",
    "requested_on": "2025-06-12",
    "member": {
        "name": "Jane Doe",
        "date_of_birth": "1980-04-02",
        "nhs_number": "9434765919",
        "postcode": "SW1A 1AA",
        "email": "jane@example.org",
        "phone": "07700900123",
        "nation": "ENG",
    },
    "gp": {"name": "Dr A Smith", "practice": "High Street Surgery", "email": "gp@example.org"},
    "condition": {
        "name": "Rotator cuff tear",
        "icd10": "M75.1",
        "specialty": "orthopaedics",
        "nature": "acute",
        "diagnosed_on": "2025-06-01",
        "history": ["2019-03-04"],
    },
    "diagnosis": {"by": "Consultant orthopaedic surgeon", "summary": "Full-thickness tear on MRI"},
    "proposed_treatment": "Open surgical repair",
}

REQUIRED = [
    "policy_number",
    "requested_on",
    "member.name",
    "member.date_of_birth",
    "member.nhs_number",
    "member.postcode",
    "condition.name",
    "condition.specialty",
    "condition.nature",
    "condition.diagnosed_on",
    "proposed_treatment",
]

OPTIONAL = [
    "member.email",
    "member.phone",
    "member.nation",
    "gp",
    "condition.icd10",
    "condition.history",
    "diagnosis",
]


def request(**changes: Any) -> dict[str, Any]:
    """The SPEC example, with dotted paths set (`member__nation="SCT"` style keys)."""
    data = copy.deepcopy(SPEC_EXAMPLE)
    for key, value in changes.items():
        set_path(data, key.replace("__", "."), value)
    return data


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        data = data[part]
    data[last] = value


def without(*paths: str) -> dict[str, Any]:
    data = copy.deepcopy(SPEC_EXAMPLE)
    for path in paths:
        *parents, last = path.split(".")
        target = data
        for part in parents:
            target = target[part]
        del target[last]
    return data


def parse(data: dict[str, Any], today: date = TODAY):
    return parse_case_request(json.dumps(data), today)


def bad_field(data: dict[str, Any] | str, today: date = TODAY) -> str:
    text = data if isinstance(data, str) else json.dumps(data)
    with pytest.raises(BadInput) as caught:
        parse_case_request(text, today)
    assert caught.value.problem
    return caught.value.field


# --- what is accepted --------------------------------------------------------------------


def test_the_spec_example_is_accepted():
    parsed = parse(request())
    assert parsed.policy_number == "AXA-100234"
    assert parsed.requested_on == date(2025, 6, 12)
    assert parsed.member.date_of_birth == date(1980, 4, 2)
    assert parsed.member.nation == "ENG"
    assert parsed.condition.nature == "acute"
    assert parsed.condition.diagnosed_on == date(2025, 6, 1)
    assert list(parsed.condition.history) == [date(2019, 3, 4)]


def test_all_optional_fields_may_be_left_out():
    parsed = parse(without(*OPTIONAL))
    assert parsed.policy_number == "AXA-100234"
    assert parsed.condition.icd10 is None
    assert parsed.gp is None
    assert parsed.diagnosis is None


def test_nation_defaults_to_england():
    assert parse(without("member.nation")).member.nation == "ENG"


def test_history_defaults_to_empty():
    assert list(parse(without("condition.history")).condition.history) == []


@pytest.mark.parametrize("nation", ["ENG", "WLS", "SCT", "NIR"])
def test_each_nation_is_accepted(nation):
    assert parse(request(member__nation=nation)).member.nation == nation


@pytest.mark.parametrize("nature", ["acute", "chronic"])
def test_each_nature_is_accepted(nature):
    assert parse(request(condition__nature=nature)).condition.nature == nature


def test_dates_on_today_are_accepted():
    data = request(requested_on="2025-06-20", condition__diagnosed_on="2025-06-20",
                   condition__history=["2025-06-20"])
    parsed = parse(data, today=date(2025, 6, 20))
    assert parsed.requested_on == date(2025, 6, 20)


def test_diagnosis_on_the_request_day_is_accepted():
    parsed = parse(request(condition__diagnosed_on="2025-06-12"))
    assert parsed.condition.diagnosed_on == date(2025, 6, 12)


@pytest.mark.parametrize("nhs_number", ["9434765919", "943 476 5919"])
def test_a_valid_nhs_number_is_accepted(nhs_number):
    parsed = parse(request(member__nhs_number=nhs_number))
    assert parsed.member.nhs_number.replace(" ", "") == "9434765919"


# --- missing and mistyped fields ---------------------------------------------------------


@pytest.mark.parametrize("path", REQUIRED)
def test_a_missing_required_field_is_named(path):
    assert bad_field(without(path)) == path


@pytest.mark.parametrize("path", ["member", "condition"])
def test_a_missing_required_section_is_named(path):
    assert bad_field(without(path)) == path


@pytest.mark.parametrize(
    "path, value",
    [
        ("policy_number", 100234),
        ("member.name", 42),
        ("member.nhs_number", 9434765919),
        ("member.postcode", ["SW1A", "1AA"]),
        ("condition.name", True),
        ("proposed_treatment", 1),
        ("member", "Jane Doe"),
    ],
)
def test_a_number_or_other_type_where_a_string_or_object_belongs_is_refused(path, value):
    assert bad_field(request(**{path.replace(".", "__"): value})) == path


def test_a_string_where_the_history_list_belongs_is_refused():
    assert bad_field(request(condition__history="2019-03-04")) == "condition.history"


def test_a_number_where_a_date_belongs_is_refused():
    assert bad_field(request(requested_on=20250612)) == "requested_on"


# --- dates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["12/06/2025", "2025-6-12", "20250612", "2025-06-12T09:00:00", "12 June 2025", "2025-02-30"],
)
def test_a_date_not_in_iso_form_is_refused(value):
    assert bad_field(request(requested_on=value)) == "requested_on"


@pytest.mark.parametrize("value", ["02/04/1980", "1980-4-2", "19800402"])
def test_a_date_of_birth_not_in_iso_form_is_refused(value):
    assert bad_field(request(member__date_of_birth=value)) == "member.date_of_birth"


def test_a_history_date_not_in_iso_form_names_its_index():
    data = request(condition__history=["2019-03-04", "04/03/2019"])
    assert bad_field(data) == "condition.history[1]"


def test_a_diagnosis_after_the_request_is_refused():
    data = request(requested_on="2025-06-12", condition__diagnosed_on="2025-06-13")
    assert bad_field(data) in ("condition.diagnosed_on", "requested_on")


def test_a_request_dated_after_today_is_refused():
    assert bad_field(request(requested_on="2025-06-21"), today=TODAY) == "requested_on"


def test_a_date_of_birth_after_today_is_refused():
    assert bad_field(request(member__date_of_birth="2025-06-21")) == "member.date_of_birth"


def test_a_history_date_after_today_is_refused_naming_its_index():
    data = request(condition__history=["2019-03-04", "2025-06-21"])
    assert bad_field(data) == "condition.history[1]"


# --- enums -------------------------------------------------------------------------------


@pytest.mark.parametrize("nature", ["subacute", "", "ACUTE_ONSET"])
def test_an_unknown_nature_is_refused(nature):
    assert bad_field(request(condition__nature=nature)) == "condition.nature"


@pytest.mark.parametrize("nation", ["UK", "GB", "Scotland", "NI"])
def test_an_unknown_nation_is_refused(nation):
    assert bad_field(request(member__nation=nation)) == "member.nation"


# --- NHS number --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "nhs_number",
    [
        "9434765918",  # check digit should be 9
        "943 476 5918",
        "1234567890",  # weights give 10: no check digit can be valid
        "943476591",  # nine digits
        "94347659190",  # eleven digits
        "ABCDEFGHIJ",
    ],
)
def test_an_nhs_number_failing_the_modulus_11_check_is_refused(nhs_number):
    assert bad_field(request(member__nhs_number=nhs_number)) == "member.nhs_number"


# --- the file itself ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ['{"policy_number": ', "", "not json", "{'policy_number': 'AXA-100234'}"]
)
def test_malformed_json_names_the_file(text):
    assert bad_field(text) == "file"


def test_bad_input_is_a_value_error_naming_field_and_problem():
    with pytest.raises(BadInput) as caught:
        parse(without("member.postcode"))
    assert caught.value.field == "member.postcode"
    assert isinstance(caught.value, ValueError)
    assert "member.postcode" in str(caught.value)


# --- hardening (issue 9 point 6) ---------------------------------------------------------

REQUIRED_TEXTS = [
    "policy_number",
    "member.name",
    "member.nhs_number",
    "member.postcode",
    "condition.name",
    "condition.specialty",
    "proposed_treatment",
]

BLANKS = ["", " ", "   ", "\t\n", "\u00a0", "\u2003", "\u3000", " \u00a0\u2003 ", "\u200b"]

DATE_FIELDS = [
    "requested_on",
    "member.date_of_birth",
    "condition.diagnosed_on",
]


@pytest.mark.parametrize(
    "nhs_number",
    [
        "９４３４７６５９１９",  # fullwidth digits
        "٩٤٣٤٧٦٥٩١٩",  # Arabic-Indic digits
        "۹۴۳۴۷۶۵۹۱۹",  # extended Arabic-Indic (Persian) digits
        "९४३४७६५९१९",  # Devanagari digits
        "943476591９",  # one fullwidth digit among ASCII ones
        "943 476 59¹9",  # a superscript digit (str.isdigit says yes)
        "943-476-5919",
        "943.476.5919",
        "943/476/5919",
        "943_476_5919",
        "943\u00a0476\u00a05919",  # no-break spaces are not the spaces allowed
        "943\t476\t5919",
        "9434 765919",  # spaces only between the 3-3-4 groups
        " 9434765919",
        "9434765919 ",
        "943476591O",  # letter O for zero
        "NHS9434765919",
        "+9434765919",
    ],
)
def test_an_nhs_number_holding_anything_but_ascii_digits_is_refused(nhs_number):
    assert bad_field(request(member__nhs_number=nhs_number)) == "member.nhs_number"


def test_the_nhs_number_problem_does_not_echo_the_number():
    with pytest.raises(BadInput) as caught:
        parse(request(member__nhs_number="９４３４７６５９１９"))
    assert "９４３" not in caught.value.problem and "943" not in caught.value.problem


@pytest.mark.parametrize("nhs_number", ["9434765919", "943 476 5919", "943  476  5919"])
def test_the_nhs_number_is_normalised_to_ten_ascii_digits(nhs_number):
    assert parse(request(member__nhs_number=nhs_number)).member.nhs_number == "9434765919"


def test_the_same_member_with_or_without_spaces_gets_the_same_member_reference():
    from services.common.pseudonyms import member_ref

    key = b"k" * 32
    plain = parse(request(member__nhs_number="9434765919")).member.nhs_number
    spaced = parse(request(member__nhs_number="943 476 5919")).member.nhs_number
    assert member_ref(key, plain) == member_ref(key, spaced)


def test_a_date_of_birth_after_the_request_is_refused():
    data = request(requested_on="2025-06-12", member__date_of_birth="2025-06-13")
    assert bad_field(data) == "member.date_of_birth"


def test_a_member_born_on_the_request_day_is_accepted():
    data = request(requested_on="2025-06-12", member__date_of_birth="2025-06-12",
                   condition__diagnosed_on="2025-06-12", condition__history=[])
    assert parse(data).member.date_of_birth == date(2025, 6, 12)


def test_a_date_of_birth_after_today_is_refused_even_after_the_request():
    assert bad_field(request(member__date_of_birth="2030-01-01")) == "member.date_of_birth"


def test_a_diagnosis_after_the_request_names_diagnosed_on():
    data = request(requested_on="2025-06-12", condition__diagnosed_on="2025-06-13")
    assert bad_field(data) == "condition.diagnosed_on"


def test_a_diagnosis_after_today_is_refused():
    data = request(requested_on="2025-06-20", condition__diagnosed_on="2025-06-21")
    assert bad_field(data) == "condition.diagnosed_on"


@pytest.mark.parametrize("path", REQUIRED_TEXTS)
@pytest.mark.parametrize("blank", BLANKS)
def test_a_required_text_empty_or_only_whitespace_is_refused(path, blank):
    assert bad_field(request(**{path.replace(".", "__"): blank})) == path


@pytest.mark.parametrize("path", [*REQUIRED_TEXTS, *DATE_FIELDS, "condition.nature"])
def test_null_for_a_required_field_is_refused(path):
    assert bad_field(request(**{path.replace(".", "__"): None})) == path


@pytest.mark.parametrize("path", ["member", "condition"])
def test_null_for_a_required_section_is_refused(path):
    assert bad_field(request(**{path: None})) == path


def test_a_required_text_with_surrounding_whitespace_is_kept():
    assert parse(request(member__name=" Jane Doe\u00a0")).member.name == " Jane Doe\u00a0"


@pytest.mark.parametrize(
    "path",
    [
        "member.email",
        "member.phone",
        "gp.name",
        "gp.practice",
        "gp.email",
        "condition.icd10",
        "diagnosis.by",
        "diagnosis.summary",
    ],
)
@pytest.mark.parametrize("blank", [None, "", "  ", "\u00a0", "\u2003"])
def test_an_optional_text_null_or_blank_is_treated_as_absent(path, blank):
    parsed = parse(request(**{path.replace(".", "__"): blank}))
    section, name = path.split(".")
    assert getattr(getattr(parsed, section), name) is None


@pytest.mark.parametrize("path", ["gp", "diagnosis"])
def test_null_for_an_optional_section_is_treated_as_absent(path):
    assert getattr(parse(request(**{path: None})), path) is None


@pytest.mark.parametrize(
    "path, empty",
    [
        ("gp", {}),
        ("gp", {"name": None, "practice": " ", "email": ""}),
        ("diagnosis", {}),
        ("diagnosis", {"by": "\u2003", "summary": None}),
    ],
)
def test_an_optional_section_with_nothing_in_it_is_treated_as_absent(path, empty):
    assert getattr(parse(request(**{path: empty})), path) is None


def test_a_gp_with_some_fields_null_keeps_the_others():
    gp = parse(request(gp={"name": "Dr A Smith", "practice": None, "email": None})).gp
    assert gp is not None
    assert (gp.name, gp.practice, gp.email) == ("Dr A Smith", None, None)


def test_null_nation_defaults_to_england():
    assert parse(request(member__nation=None)).member.nation == "ENG"


def test_null_history_is_empty():
    assert list(parse(request(condition__history=None)).condition.history) == []


def test_every_optional_field_null_is_accepted():
    data = request(**{path.replace(".", "__"): None for path in OPTIONAL})
    parsed = parse(data)
    assert parsed.member.nation == "ENG"
    assert list(parsed.condition.history) == []
    assert parsed.gp is None and parsed.diagnosis is None
    assert parsed.member.email is None and parsed.member.phone is None
    assert parsed.condition.icd10 is None


def test_a_null_history_entry_is_refused_naming_its_index():
    data = request(condition__history=["2019-03-04", None])
    assert bad_field(data) == "condition.history[1]"


@pytest.mark.parametrize("path", [*DATE_FIELDS, "condition.history.0"])
@pytest.mark.parametrize(
    "value",
    [
        "2025-6-1",
        "12/06/2025",
        "2025-06-12T10:00",
        "2025-06-12 ",
        " 2025-06-12",
        "2025/06/12",
        "２０２５-０６-１２",  # fullwidth digits
        "٢٠٢٥-٠٦-١٢",  # Arabic-Indic digits
        "+2025-06-12",
        "2025-W24-4",
        "2025-163",
        "",
        "   ",
        20250612,
        True,
        ["2025-06-12"],
    ],
)
def test_a_date_field_not_in_iso_form_is_refused(path, value):
    data = request()
    if path == "condition.history.0":
        data["condition"]["history"] = [value]
        expected = "condition.history[0]"
    else:
        set_path(data, path, value)
        expected = path
    assert bad_field(data) == expected


@pytest.mark.parametrize(
    "path, value",
    [
        ("member.nation", "eng"),
        ("member.nation", "England"),
        ("member.nation", ""),
        ("member.nation", " ENG"),
        ("member.nation", 1),
        ("condition.nature", "Acute"),
        ("condition.nature", " chronic"),
        ("condition.nature", 0),
    ],
)
def test_an_unknown_enum_value_is_refused_naming_the_field(path, value):
    assert bad_field(request(**{path.replace(".", "__"): value})) == path


@pytest.mark.parametrize(
    "path, value",
    [
        ("member.postcode", 1),
        ("member.email", 7700900123),
        ("member.phone", 7700900123),
        ("condition.specialty", ["orthopaedics"]),
        ("condition.icd10", 75.1),
        ("condition.history", {"0": "2019-03-04"}),
        ("condition.history", 20190304),
        ("gp", "Dr A Smith"),
        ("gp.name", False),
        ("diagnosis", ["MRI"]),
        ("diagnosis.summary", {"text": "tear"}),
        ("condition", []),
    ],
)
def test_a_wrong_json_type_is_refused_naming_the_field(path, value):
    assert bad_field(request(**{path.replace(".", "__"): value})) == path


@pytest.mark.parametrize("text", ["[]", '"a string"', "42", "null"])
def test_a_file_that_is_not_a_json_object_is_refused(text):
    assert bad_field(text) == "file"
