"""Eligibility rules of SPEC section 5, each at its edges.

Expected dates are worked out by hand from the SPEC wording (calendar years, 29 February
falling on 28 February), never by calling the code under test.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from events.intake import PolicyTerms, SecondOpinionBenefit
from services.intake.domain.calendar import add_years
from services.intake.domain.eligibility import ConditionFacts, Decision, decide

START = date(2024, 3, 1)  # the SPEC example policy's start_date


def policy(**changes) -> PolicyTerms:
    """An active moratorium policy with the benefit and no exclusions: eligible by default."""
    benefit = changes.pop("second_opinion", None) or SecondOpinionBenefit(
        included=True, model="third_party", sla_working_days=10
    )
    fields = {
        "number": "AXA-100234",
        "insurer": "AXA Health",
        "product": "Personal Health",
        "start_date": START,
        "end_date": None,
        "status": "active",
        "underwriting": "moratorium",
        "exclusions": (),
        "second_opinion": benefit,
    }
    fields.update(changes)
    return PolicyTerms(**fields)


def condition(**changes) -> ConditionFacts:
    """An acute condition diagnosed well inside cover, with no history."""
    fields = {
        "name": "Rotator cuff tear",
        "icd10": "M75.1",
        "nature": "acute",
        "diagnosed_on": date(2025, 6, 1),
        "history": (),
    }
    fields.update(changes)
    if "history" in changes:
        fields["history"] = tuple(changes["history"])
    return ConditionFacts(**fields)


def decide_for(
    terms: PolicyTerms | None = None,
    facts: ConditionFacts | None = None,
    requested_on: date | None = None,
    *,
    no_policy: bool = False,
) -> Decision:
    facts = facts or condition()
    terms = None if no_policy else (terms or policy())
    if requested_on is None:
        requested_on = facts.diagnosed_on + timedelta(days=11)
    return decide(terms, requested_on, facts)


def reasons(**kwargs) -> tuple[str, ...]:
    return decide_for(**kwargs).reasons


# --- the all-good request and the calendar helper ---------------------------------------


def test_an_eligible_request_is_accepted_with_no_reasons():
    decision = decide_for()
    assert decision.reasons == ()
    assert decision.accepted is True


def test_a_declined_request_is_not_accepted():
    decision = decide_for(facts=condition(nature="chronic"))
    assert decision.accepted is False


@pytest.mark.parametrize(
    "day, years, expected",
    [
        (date(2024, 3, 1), -5, date(2019, 3, 1)),
        (date(2024, 2, 29), -5, date(2019, 2, 28)),
        (date(2024, 2, 29), 2, date(2026, 2, 28)),
        (date(2024, 2, 29), 4, date(2028, 2, 29)),
        (date(2023, 12, 31), 2, date(2025, 12, 31)),
    ],
)
def test_adding_calendar_years_keeps_month_and_day_or_falls_on_28_february(day, years, expected):
    assert add_years(day, years) == expected


# --- policy_not_found ------------------------------------------------------------------


def test_an_unknown_policy_gives_only_policy_not_found():
    # Every other rule would fail too; with policy_not_found none of them runs.
    facts = condition(
        nature="chronic", diagnosed_on=date(2010, 1, 1), history=(date(2009, 1, 1),)
    )
    assert reasons(facts=facts, no_policy=True) == ("policy_not_found",)


# --- policy_not_in_force ---------------------------------------------------------------


@pytest.mark.parametrize("status", ["lapsed", "cancelled"])
def test_a_policy_that_is_not_active_is_not_in_force(status):
    assert reasons(terms=policy(status=status)) == ("policy_not_in_force",)


def _dated_policy() -> PolicyTerms:
    return policy(start_date=date(2025, 1, 1), end_date=date(2025, 12, 31))


def _condition_on_start() -> ConditionFacts:
    return condition(diagnosed_on=date(2025, 1, 1))


def test_a_request_the_day_before_start_date_is_not_in_force():
    got = reasons(terms=_dated_policy(), facts=_condition_on_start(),
                  requested_on=date(2024, 12, 31))
    assert got == ("policy_not_in_force",)


def test_a_request_on_start_date_is_in_force():
    got = reasons(terms=_dated_policy(), facts=_condition_on_start(),
                  requested_on=date(2025, 1, 1))
    assert got == ()


def test_a_request_on_end_date_is_in_force():
    got = reasons(terms=_dated_policy(), facts=_condition_on_start(),
                  requested_on=date(2025, 12, 31))
    assert got == ()


def test_a_request_the_day_after_end_date_is_not_in_force():
    got = reasons(terms=_dated_policy(), facts=_condition_on_start(),
                  requested_on=date(2026, 1, 1))
    assert got == ("policy_not_in_force",)


def test_a_policy_without_end_date_stays_in_force():
    assert reasons(terms=policy(end_date=None), requested_on=date(2040, 1, 1)) == ()


# --- no_second_opinion_benefit ---------------------------------------------------------


def test_a_policy_without_the_benefit_is_declined():
    terms = policy(second_opinion=SecondOpinionBenefit(included=False))
    assert reasons(terms=terms) == ("no_second_opinion_benefit",)


# --- chronic_condition -----------------------------------------------------------------


def test_chronic_condition_is_declined():
    assert reasons(facts=condition(nature="chronic")) == ("chronic_condition",)


def test_acute_condition_is_not_declined_as_chronic():
    assert reasons(facts=condition(nature="acute")) == ()


# --- diagnosed_before_cover ------------------------------------------------------------


@pytest.mark.parametrize("underwriting", ["moratorium", "full_medical"])
def test_a_diagnosis_the_day_before_start_date_is_before_cover(underwriting):
    facts = condition(diagnosed_on=START - timedelta(days=1))  # 2024-02-29
    got = reasons(terms=policy(underwriting=underwriting), facts=facts,
                  requested_on=date(2025, 6, 12))
    assert got == ("diagnosed_before_cover",)


def test_a_diagnosis_on_start_date_is_covered():
    assert reasons(facts=condition(diagnosed_on=START)) == ()


def test_a_diagnosis_before_cover_is_fine_under_medical_history_disregarded():
    terms = policy(underwriting="medical_history_disregarded")
    facts = condition(diagnosed_on=date(2020, 5, 5), history=(date(2020, 1, 1),))
    assert reasons(terms=terms, facts=facts, requested_on=date(2025, 6, 12)) == ()


# --- excluded_condition ----------------------------------------------------------------


@pytest.mark.parametrize(
    "exclusion, name, icd10",
    [
        ("rotator CUFF tear", "Rotator cuff tear", "M75.1"),  # name, case-insensitive
        ("ROTATOR CUFF TEAR", "Rotator cuff tear", None),  # name, code absent
        ("M75.1", "Rotator cuff tear", "M75.1"),  # exact code
        ("m75.1", "Rotator cuff tear", "M75.1"),  # exact code, case-insensitive
        ("M75", "Rotator cuff tear", "M75.1"),  # category before the dot
        ("m75", "Rotator cuff tear", "M75.1"),  # category, case-insensitive
        ("K80.2", "Gallstones", "K80.21"),  # dotted exclusion begins the code
        ("k80.2", "Gallstones", "K80.21"),  # dotted prefix, case-insensitive
        ("K80", "Gallstones", "K80.21"),  # category of a two-level code
        ("K80.2", "Gallstones", "K80.2"),  # dotted exclusion equal to the code
        ("K801", "Gallstones", "K801"),  # undotted code, exact
    ],
)
def test_an_exclusion_matching_the_condition_excludes_it(exclusion, name, icd10):
    facts = condition(name=name, icd10=icd10)
    assert reasons(terms=policy(exclusions=(exclusion,)), facts=facts) == (
        "excluded_condition",
    )


@pytest.mark.parametrize(
    "exclusion, name, icd10",
    [
        ("K80.2", "Gallstones", "K80.3"),  # a sibling sub-category
        ("M7", "Rotator cuff tear", "M75.1"),  # undotted: not a prefix of the category
        ("K80", "Gallstones", "K801"),  # undotted: not a prefix of an undotted code
        ("M75.1", "Rotator cuff tear", "M75"),  # more specific than the code
        ("cuff", "Rotator cuff tear", "M75.1"),  # part of the name only
        ("asthma", "Rotator cuff tear", "M75.1"),  # another condition altogether
        ("M75", "Rotator cuff tear", None),  # a code exclusion, no code given
    ],
)
def test_an_exclusion_not_matching_the_condition_does_not_exclude_it(exclusion, name, icd10):
    facts = condition(name=name, icd10=icd10)
    assert reasons(terms=policy(exclusions=(exclusion,)), facts=facts) == ()


def test_any_one_of_several_exclusions_is_enough():
    terms = policy(exclusions=("asthma", "J45", "M75"))
    assert reasons(terms=terms) == ("excluded_condition",)


# --- pre_existing_condition: the 5-year window -----------------------------------------
# START is 2024-03-01: the window runs from 2019-03-01 (inclusive) to 2024-02-29
# (inclusive, the day before start). Diagnosis 2025-06-01 is less than 2 years after
# start, so nothing clears a condition found in the window.


@pytest.mark.parametrize(
    "history_day",
    [date(2019, 3, 1), date(2024, 2, 29), date(2021, 7, 15)],
    ids=["window-first-day", "window-last-day", "inside-window"],
)
def test_history_in_the_five_years_before_cover_is_pre_existing_under_moratorium(history_day):
    facts = condition(history=(history_day,))
    assert reasons(facts=facts) == ("pre_existing_condition",)


def test_history_the_day_before_the_window_opens_is_not_pre_existing():
    assert reasons(facts=condition(history=(date(2019, 2, 28),))) == ()


def test_history_on_start_date_is_not_in_the_window():
    assert reasons(facts=condition(history=(START,))) == ()


@pytest.mark.parametrize("underwriting", ["full_medical", "medical_history_disregarded"])
def test_history_in_the_window_is_not_pre_existing_without_moratorium(underwriting):
    facts = condition(history=(date(2023, 1, 10),))
    assert reasons(terms=policy(underwriting=underwriting), facts=facts) == ()


# --- pre_existing_condition: clearing by 2 trouble-free years ---------------------------


def test_exactly_two_years_from_start_to_diagnosis_clears_the_condition():
    # neighbours: 2024-03-01 (start) and 2026-03-01 (diagnosis): exactly 2 calendar years
    facts = condition(history=(date(2020, 1, 1),), diagnosed_on=date(2026, 3, 1))
    assert reasons(facts=facts) == ()


def test_one_day_short_of_two_years_from_start_to_diagnosis_does_not_clear():
    facts = condition(history=(date(2020, 1, 1),), diagnosed_on=date(2026, 2, 28))
    assert reasons(facts=facts) == ("pre_existing_condition",)


def test_history_since_cover_breaks_the_trouble_free_period():
    # start 2024-03-01, then history 2024-06-01, diagnosis 2026-05-31: the gaps are
    # 3 months and 2 years less a day, though start to diagnosis alone is over 2 years.
    facts = condition(
        history=(date(2020, 1, 1), date(2024, 6, 1)), diagnosed_on=date(2026, 5, 31)
    )
    assert reasons(facts=facts) == ("pre_existing_condition",)


def test_two_years_after_the_last_history_since_cover_clears_the_condition():
    facts = condition(
        history=(date(2020, 1, 1), date(2024, 6, 1)), diagnosed_on=date(2026, 6, 1)
    )
    assert reasons(facts=facts) == ()


def test_exactly_two_years_between_two_history_dates_since_cover_clears():
    # neighbours: 2024-03-01, 2024-04-01, 2026-04-01, 2026-05-01 -> the middle gap is 2 years
    facts = condition(
        history=(date(2026, 4, 1), date(2020, 1, 1), date(2024, 4, 1)),  # unordered on purpose
        diagnosed_on=date(2026, 5, 1),
    )
    assert reasons(facts=facts) == ()


def test_one_day_short_of_two_years_between_history_dates_does_not_clear():
    # neighbours: 2024-03-01, 2024-04-01, 2026-03-31, 2026-05-01 -> no gap reaches 2 years
    facts = condition(
        history=(date(2020, 1, 1), date(2024, 4, 1), date(2026, 3, 31)),
        diagnosed_on=date(2026, 5, 1),
    )
    assert reasons(facts=facts) == ("pre_existing_condition",)


def test_history_after_the_diagnosis_is_ignored_when_clearing():
    # Only start (2024-03-01) and diagnosis (2025-06-01) are neighbours: 15 months, not
    # cleared. The later 2026-06-01 must not stand in for the end of the period.
    facts = condition(
        history=(date(2020, 1, 1), date(2026, 6, 1)), diagnosed_on=date(2025, 6, 1)
    )
    got = reasons(facts=facts, requested_on=date(2026, 6, 12))
    assert got == ("pre_existing_condition",)


def test_history_after_the_diagnosis_does_not_break_a_cleared_period():
    # start 2024-03-01 to diagnosis 2026-03-01 is 2 years; 2026-03-02 comes after diagnosis.
    facts = condition(
        history=(date(2020, 1, 1), date(2026, 3, 2)), diagnosed_on=date(2026, 3, 1)
    )
    assert reasons(facts=facts, requested_on=date(2026, 3, 12)) == ()


# --- 29 February -----------------------------------------------------------------------

LEAP_START = date(2024, 2, 29)  # 5 years before: 2019-02-28; 2 years after: 2026-02-28


def test_a_29_february_start_opens_the_window_on_28_february():
    facts = condition(history=(date(2019, 2, 28),))
    assert reasons(terms=policy(start_date=LEAP_START), facts=facts) == (
        "pre_existing_condition",
    )


def test_a_29_february_start_leaves_27_february_outside_the_window():
    facts = condition(history=(date(2019, 2, 27),))
    assert reasons(terms=policy(start_date=LEAP_START), facts=facts) == ()


def test_two_years_after_a_29_february_start_is_28_february():
    facts = condition(history=(date(2019, 2, 28),), diagnosed_on=date(2026, 2, 28))
    assert reasons(terms=policy(start_date=LEAP_START), facts=facts) == ()


def test_the_day_before_28_february_is_short_of_two_years_after_a_29_february_start():
    facts = condition(history=(date(2019, 2, 28),), diagnosed_on=date(2026, 2, 27))
    assert reasons(terms=policy(start_date=LEAP_START), facts=facts) == (
        "pre_existing_condition",
    )


# --- all reasons together --------------------------------------------------------------


def test_every_failing_reason_is_returned_in_spec_order():
    terms = policy(
        status="lapsed",
        underwriting="moratorium",
        exclusions=("M75",),
        second_opinion=SecondOpinionBenefit(included=False),
    )
    facts = condition(
        nature="chronic",
        diagnosed_on=date(2024, 1, 15),  # before START
        history=(date(2023, 6, 1),),  # inside the window, never cleared
    )
    assert reasons(terms=terms, facts=facts, requested_on=date(2025, 6, 12)) == (
        "policy_not_in_force",
        "no_second_opinion_benefit",
        "chronic_condition",
        "diagnosed_before_cover",
        "excluded_condition",
        "pre_existing_condition",
    )


def test_some_failing_reasons_keep_spec_order():
    terms = policy(exclusions=("m75.1",))
    facts = condition(nature="chronic", history=(date(2022, 2, 2),))
    assert reasons(terms=terms, facts=facts) == (
        "chronic_condition",
        "excluded_condition",
        "pre_existing_condition",
    )
