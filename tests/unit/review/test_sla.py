"""Review SLA of SPEC section 6: due on the N-th working day after the start day.

Every holiday below was checked by hand against
`holidays.country_holidays("GB", subdiv=NATION, years=YEAR)` (holidays 0.109) and every
weekday against the `calendar` module.
"""

from __future__ import annotations

from datetime import date

import pytest

from services.review.domain.sla import (
    NATIONS,
    add_working_days,
    due_date,
    is_working_day,
    working_days_between,
)

ALL = ("ENG", "WLS", "SCT", "NIR")


def d(text: str) -> date:
    return date.fromisoformat(text)


def test_the_four_nations_are_known():
    assert set(NATIONS) == set(ALL)


# --- counting ----------------------------------------------------------------------------


def test_ten_working_days_from_friday_19_december_2025_in_england_is_7_january():
    # Mon 22, Tue 23, Wed 24 (3); Christmas, Boxing Day; Mon 29, Tue 30, Wed 31 (6);
    # New Year's Day; Fri 2 Jan (7); Mon 5, Tue 6, Wed 7 (10).
    assert due_date(d("2025-12-19"), 10, "ENG") == d("2026-01-07")


@pytest.mark.parametrize(
    "nation, expected",
    [("ENG", "2026-01-07"), ("WLS", "2026-01-07"), ("NIR", "2026-01-07"), ("SCT", "2026-01-08")],
)
def test_ten_working_days_over_christmas_and_new_year_in_each_nation(nation, expected):
    # Scotland also rests on 2 January (Fri 2026-01-02), so its count ends a day later.
    assert due_date(d("2025-12-19"), 10, nation) == d(expected)


def test_the_start_day_is_not_counted():
    # Mon 2025-06-16 + 1 working day is Tue 2025-06-17, not Monday itself.
    assert due_date(d("2025-06-16"), 1, "ENG") == d("2025-06-17")


def test_one_working_day_after_a_friday_is_the_monday():
    assert due_date(d("2025-06-13"), 1, "ENG") == d("2025-06-16")


def test_five_working_days_after_a_monday_is_the_next_monday():
    assert due_date(d("2025-06-16"), 5, "ENG") == d("2025-06-23")


@pytest.mark.parametrize("days, expected", [(1, "2025-06-16"), (5, "2025-06-20")])
def test_a_review_starting_on_a_saturday_counts_from_the_monday(days, expected):
    assert due_date(d("2025-06-14"), days, "ENG") == d(expected)


def test_a_review_starting_on_a_sunday_counts_from_the_monday():
    assert due_date(d("2025-06-15"), 1, "ENG") == d("2025-06-16")


def test_a_review_starting_on_a_bank_holiday_does_not_count_it():
    # Christmas Day 2025 (Thu): Boxing Day is off, so the first working day is Mon 29.
    assert due_date(d("2025-12-25"), 1, "ENG") == d("2025-12-29")


def test_thirty_working_days_are_counted_across_holidays():
    # From Fri 2025-12-19 in England: 10 working days reach Wed 2026-01-07 (see above),
    # then 20 more with no holiday in between: Thu 8, Fri 9 (12), 12-16 (17), 19-23 (22),
    # 26-30 (27), Mon 2, Tue 3, Wed 4 February (30).
    assert due_date(d("2025-12-19"), 30, "ENG") == d("2026-02-04")


def test_add_working_days_and_due_date_agree():
    assert add_working_days(d("2025-04-17"), 3, "SCT") == due_date(d("2025-04-17"), 3, "SCT")


# --- which days are working days --------------------------------------------------------


@pytest.mark.parametrize("nation", ALL)
@pytest.mark.parametrize(
    "day",
    [
        "2025-12-25",  # Christmas Day (Thu)
        "2025-12-26",  # Boxing Day (Fri)
        "2026-01-01",  # New Year's Day (Thu)
        "2026-12-28",  # Boxing Day falls on Sat 2026-12-26: substitute Monday
        "2025-04-18",  # Good Friday
        "2026-04-03",  # Good Friday
        "2025-05-05",  # early May bank holiday
        "2025-05-26",  # spring bank holiday
    ],
)
def test_bank_holidays_shared_by_all_nations_are_not_working_days(day, nation):
    assert is_working_day(d(day), nation) is False


@pytest.mark.parametrize("nation", ALL)
@pytest.mark.parametrize("day", ["2025-06-14", "2025-06-15"])
def test_weekends_are_not_working_days(day, nation):
    assert is_working_day(d(day), nation) is False


@pytest.mark.parametrize("nation", ALL)
@pytest.mark.parametrize("day", ["2025-06-11", "2025-12-24", "2025-12-31"])
def test_ordinary_weekdays_are_working_days(day, nation):
    assert is_working_day(d(day), nation) is True


def _only(nations: tuple[str, ...], day: str):
    """(day, nation, is_working_day) rows: a holiday in `nations`, a working day elsewhere."""
    return [(day, nation, nation not in nations) for nation in ALL]


@pytest.mark.parametrize(
    "day, nation, working",
    [
        # Scotland's 2 January
        *_only(("SCT",), "2026-01-02"),  # Fri
        *_only(("SCT",), "2025-01-02"),  # Thu
        # Easter Monday: England, Wales and Northern Ireland, not Scotland
        *_only(("ENG", "WLS", "NIR"), "2025-04-21"),
        *_only(("ENG", "WLS", "NIR"), "2026-04-06"),
        # St Patrick's Day, Northern Ireland only
        *_only(("NIR",), "2025-03-17"),  # Mon
        *_only(("NIR",), "2026-03-17"),  # Tue
        # Battle of the Boyne, Northern Ireland only
        *_only(("NIR",), "2023-07-12"),  # Wed
        *_only(("NIR",), "2025-07-14"),  # 12 July 2025 is a Saturday: substitute Monday
        *_only(("NIR",), "2026-07-13"),  # 12 July 2026 is a Sunday: substitute Monday
        # Scotland's summer bank holiday: first Monday in August
        *_only(("SCT",), "2025-08-04"),
        *_only(("SCT",), "2026-08-03"),
        # The late August bank holiday: England, Wales and Northern Ireland
        *_only(("ENG", "WLS", "NIR"), "2025-08-25"),
        *_only(("ENG", "WLS", "NIR"), "2026-08-31"),
        # St Andrew's Day, Scotland only
        *_only(("SCT",), "2026-11-30"),  # Mon
        *_only(("SCT",), "2025-12-01"),  # 30 November 2025 is a Sunday: substitute Monday
    ],
)
def test_a_nations_own_bank_holiday_is_not_a_working_day_there_only(day, nation, working):
    assert is_working_day(d(day), nation) is working


@pytest.mark.parametrize("nation", ALL)
def test_the_working_friday_before_a_substitute_boyne_monday_is_a_working_day(nation):
    assert is_working_day(d("2025-07-11"), nation) is True


# --- due dates across a nation's own holiday ---------------------------------------------


@pytest.mark.parametrize(
    "start, days, by_nation",
    [
        # Easter 2025 from Thu 17 April: Scotland works Easter Monday 21 April.
        ("2025-04-17", 3, {"ENG": "2025-04-24", "WLS": "2025-04-24",
                           "NIR": "2025-04-24", "SCT": "2025-04-23"}),
        # St Patrick's Day, Mon 17 March 2025.
        ("2025-03-14", 1, {"ENG": "2025-03-17", "WLS": "2025-03-17",
                           "SCT": "2025-03-17", "NIR": "2025-03-18"}),
        # Boyne substitute day, Mon 14 July 2025.
        ("2025-07-11", 1, {"ENG": "2025-07-14", "WLS": "2025-07-14",
                           "SCT": "2025-07-14", "NIR": "2025-07-15"}),
        # Scotland's summer bank holiday, Mon 4 August 2025.
        ("2025-08-01", 1, {"ENG": "2025-08-04", "WLS": "2025-08-04",
                           "NIR": "2025-08-04", "SCT": "2025-08-05"}),
        # Late August bank holiday, Mon 25 August 2025: Scotland works it.
        ("2025-08-22", 1, {"ENG": "2025-08-26", "WLS": "2025-08-26",
                           "NIR": "2025-08-26", "SCT": "2025-08-25"}),
        # St Andrew's Day substitute, Mon 1 December 2025.
        ("2025-11-28", 1, {"ENG": "2025-12-01", "WLS": "2025-12-01",
                           "NIR": "2025-12-01", "SCT": "2025-12-02"}),
        # Scotland's 2 January (Fri 2026-01-02), from Wed 31 December 2025.
        ("2025-12-31", 2, {"ENG": "2026-01-05", "WLS": "2026-01-05",
                           "NIR": "2026-01-05", "SCT": "2026-01-06"}),
    ],
    ids=["easter", "st-patrick", "boyne", "scottish-august", "late-august", "st-andrew",
         "second-january"],
)
def test_each_nation_counts_its_own_bank_holidays(start, days, by_nation):
    got = {nation: due_date(d(start), days, nation) for nation in ALL}
    assert got == {nation: d(day) for nation, day in by_nation.items()}


# --- working_days_between ----------------------------------------------------------------


@pytest.mark.parametrize("nation, expected", [("ENG", 10), ("SCT", 9)])
def test_working_days_between_counts_after_start_up_to_end(nation, expected):
    assert working_days_between(d("2025-12-19"), d("2026-01-07"), nation) == expected


@pytest.mark.parametrize("end", ["2025-06-16", "2025-06-10"])
def test_working_days_between_is_zero_when_the_end_is_not_after_the_start(end):
    assert working_days_between(d("2025-06-16"), d(end), "ENG") == 0


def test_working_days_between_a_friday_and_the_monday_is_one():
    assert working_days_between(d("2025-06-13"), d("2025-06-16"), "ENG") == 1


def test_the_bank_holiday_table_is_what_the_pinned_holidays_package_lists() -> None:
    """The SLA clock reads a committed table (fast); `make holidays` rewrites it."""
    from services.review.domain.bank_holidays import DATA, render

    assert DATA.read_text() == render(), "stale: run `make holidays`"
