"""De-identification of free text (services/common/deidentify.py): what a reviewer partner
would otherwise read about the member and their GP in the diagnosis and proposed treatment."""

from __future__ import annotations

from datetime import date

import pytest

from services.common.deidentify import KnownIdentifiers, deidentify, deidentify_unknown

JANE = KnownIdentifiers(
    name="Jane Doe", nhs_number="9434765919", date_of_birth=date(1980, 4, 2), postcode="SW1A 1AA",
    email="jane@example.org", phone="07700900123", gp_name="Dr A Smith",
    gp_practice="High Street Surgery", gp_email="gp@example.org",
)


def test_the_issue_example_reads_without_any_identifier() -> None:
    summary = "Jane Doe, NHS 9434765919, full-thickness tear on MRI"
    treatment = "Open surgical repair; referred by Dr A Smith at High Street Surgery"
    assert deidentify(summary, JANE) == "[name], NHS [NHS number], full-thickness tear on MRI"
    assert deidentify(treatment, JANE) == "Open surgical repair; referred by [GP] at [practice]"


@pytest.mark.parametrize("written", [
    "Jane Doe", "DOE, Jane", "jane DOE", "Doe Jane", "Doe", "DOE", "Jane", "jane", "J Doe", "J. Doe",
    "Mrs Doe", "Mrs. Jane Doe", "Ms J. DOE", "Doe, J", "Doe, J.",
])
def test_the_member_s_name_in_any_case_and_order(written: str) -> None:
    assert deidentify(f"Seen today: {written} reports pain.", JANE) == "Seen today: [name] reports pain."


@pytest.mark.parametrize("written", ["Dr A Smith", "Dr Smith", "Dr. A. Smith", "A Smith", "SMITH", "dr smith"])
def test_the_gp_s_name_with_or_without_title_and_initial(written: str) -> None:
    assert deidentify(f"Letter from {written} attached", JANE) == "Letter from [GP] attached"


def test_a_possessive_name_keeps_its_s() -> None:
    assert deidentify("Mrs Doe's MRI", JANE) == "[name]'s MRI"


def test_names_are_matched_as_whole_words_only() -> None:
    text = "Annual review; Janet and Doeberg unrelated; the doer; Smithfield clinic"
    assert deidentify(text, JANE) == text


@pytest.mark.parametrize("written", ["9434765919", "943 476 5919", "943-476-5919", "9434 765 919"])
def test_the_member_s_nhs_number_with_or_without_spaces_or_dashes(written: str) -> None:
    assert deidentify(f"NHS no {written}.", JANE) == "NHS no [NHS number]."


def test_another_nhs_valid_number_goes_too_and_an_invalid_one_stays() -> None:
    # 401 023 2137 passes modulus 11 (a relative's, say); 401 023 2138 does not.
    assert deidentify("Mother 401 023 2137, ref 401 023 2138", JANE) == "Mother [NHS number], ref 401 023 2138"
    assert deidentify_unknown("nhs 4010232137") == "nhs [NHS number]"


@pytest.mark.parametrize("written", [
    "1980-04-02", "02/04/1980", "2/4/1980", "02-04-1980", "02.04.1980", "02/04/80", "2 April 1980",
    "2nd April 1980", "2 Apr 1980", "April 2, 1980", "2nd of April 1980", "2nd of april, 1980",
    "APRIL 2ND 1980", "02041980",
])
def test_the_date_of_birth_in_common_written_forms(written: str) -> None:
    assert deidentify(f"DOB {written}; scan 2025-06-01", JANE) == "DOB [date of birth]; scan 2025-06-01"


def test_other_dates_stay() -> None:
    text = "Symptoms since 3 April 1980? No: since 02/04/2019; MRI on 1 June 2025 and 2025-06-01"
    assert deidentify(text, JANE) == text


@pytest.mark.parametrize("written", ["SW1A 1AA", "sw1a 1aa", "SW1A1AA", "Sw1a1Aa"])
def test_the_member_s_postcode_in_any_case_and_spacing(written: str) -> None:
    assert deidentify(f"Lives at {written}, London", JANE) == "Lives at [postcode], London"


def test_any_full_uk_postcode_by_its_pattern() -> None:
    assert deidentify_unknown("Moved from M1 1AE to ec1a1bb, then B33 8TH") == (
        "Moved from [postcode] to [postcode], then [postcode]")


def test_vertebral_levels_and_units_are_not_postcodes() -> None:
    """Unless in capitals, an inward code that reads as an ordinal or a unit is not taken for
    one (the member's own postcode goes in any case all the same)."""
    text = "Disc bulge L4 5th level, T2 3rd rib, vitamin B12 2ug, C5 6th"
    assert deidentify_unknown(text) == text
    lives = KnownIdentifiers(name="Jane Doe", nhs_number="9434765919", date_of_birth=date(1980, 4, 2),
                             postcode="B33 8TH")
    assert deidentify("lives at b33 8th", lives) == "lives at [postcode]"


def test_any_email_goes() -> None:
    text = "Write to jane@example.org, GP gp@example.org, or j.o'neil+x@nhs.net"
    assert deidentify(text, JANE) == "Write to [email], GP [email], or [email]"


@pytest.mark.parametrize("written", [
    "07700 900123", "07700900123", "+44 7700 900123", "+447700900123", "0044 7700 900123",
    "+44 (0)7700 900123", "077 0090 0123", "7700 900 123",
])
def test_the_member_s_phone_in_any_spacing(written: str) -> None:
    assert deidentify(f"Call {written} after 5pm", JANE) == "Call [phone] after 5pm"


@pytest.mark.parametrize("written", ["020 7946 0000", "(020) 7946 0000", "0161 496 0000", "07700 900456",
                                     "+44 20 7946 0000"])
def test_any_uk_phone_by_its_pattern(written: str) -> None:
    assert deidentify_unknown(f"Tel {written}.") == "Tel [phone]."


@pytest.mark.parametrize("written", ["High Street Surgery", "HIGH STREET SURGERY", "high street surgery",
                                     "High  Street Surgery", "High Street"])
def test_the_practice_in_any_case(written: str) -> None:
    assert deidentify(f"Registered at {written} since 2010", JANE) == "Registered at [practice] since 2010"


def test_clinical_content_survives() -> None:
    text = ("Full-thickness supraspinatus tear on MRI (M75.1), scan 2025-06-01; ibuprofen 400 mg tds, "
            "paracetamol 1 g qds, 5 mg; HbA1c 48 mmol/mol; BMI 27.5; ICD-10 S43.4; 2 x 10 ml; 0.5 mg")
    assert deidentify(text, JANE) == text
    assert deidentify_unknown(text) == text


def test_accents_hyphens_and_apostrophes_in_names() -> None:
    known = KnownIdentifiers(name="Zoë O'Neil-Brennan", nhs_number="4010232137",
                             date_of_birth=date(1991, 12, 25), postcode="BT1 5GS")
    text = "ZOE O’NEIL-BRENNAN; Ms O'Neil; Brennan; zoë; Mrs ONeil Brennan; Neil's scan"
    assert deidentify(text, known) == "[name]; [name]; [name]; [name]; [name]; [name]'s scan"


def test_a_short_given_name_only_goes_beside_the_surname() -> None:
    known = KnownIdentifiers(name="Jo Li", nhs_number="4010232137", date_of_birth=date(1991, 12, 25),
                             postcode="BT1 5GS")
    assert deidentify("Jo Li seen; Li well; jo is a word here", known) == "[name] seen; [name] well; jo is a word here"


def test_a_request_without_optional_identifiers() -> None:
    known = KnownIdentifiers(name="Jane Doe", nhs_number="9434765919", date_of_birth=date(1980, 4, 2),
                             postcode="SW1A 1AA")
    assert deidentify("Jane seen at Park Surgery by Dr Who", known) == "[name] seen at Park Surgery by Dr Who"


def test_text_cannot_forge_a_placeholder() -> None:
    forged = "\ue000\ue100\ue001 Jane"
    assert deidentify(forged, JANE) == "\ufffd\ufffd\ufffd [name]"


def test_a_second_pass_leaves_the_placeholders_as_they_are() -> None:
    """The partner gateway runs the pattern pass again over text intake de-identified."""
    once = deidentify("Jane Doe, 943 476 5919, 2/4/1980, SW1A 1AA, jane@example.org, 07700 900123, "
                      "Dr A Smith, High Street Surgery", JANE)
    assert once == "[name], [NHS number], [date of birth], [postcode], [email], [phone], [GP], [practice]"
    assert deidentify_unknown(once) == once
    assert deidentify(once, JANE) == once
