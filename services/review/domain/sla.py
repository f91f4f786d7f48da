"""Review SLA (SPEC section 6): due on the N-th working day after the start day.

Working days are Monday to Friday less the bank holidays of the member's nation, as the
`holidays` package lists them (ENG and WLS share England and Wales's days; SCT and NIR
have their own). The start day itself is never counted.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from services.review.domain.bank_holidays import NATIONS, listed

__all__ = ["NATIONS", "add_working_days", "bank_holidays", "due_date", "is_working_day", "subtract_working_days",
           "working_days_between"]


@lru_cache(maxsize=256)
def bank_holidays(nation: str, year: int) -> frozenset[date]:
    if nation not in NATIONS:
        raise ValueError(f"unknown nation {nation!r}; expected one of {', '.join(NATIONS)}")
    return listed(nation, year)


def is_working_day(day: date, nation: str) -> bool:
    return day.weekday() < 5 and day not in bank_holidays(nation, day.year)


def add_working_days(start: date, days: int, nation: str) -> date:
    """The N-th working day after `start` (N >= 0; N = 0 gives `start`)."""
    if days < 0:
        raise ValueError("working days must not be negative")
    day = start
    remaining = days
    while remaining:
        day += timedelta(days=1)
        if is_working_day(day, nation):
            remaining -= 1
    return day


def subtract_working_days(start: date, days: int, nation: str) -> date:
    """The N-th working day before `start` (N >= 0; N = 0 gives `start`)."""
    if days < 0:
        raise ValueError("working days must not be negative")
    day = start
    remaining = days
    while remaining:
        day -= timedelta(days=1)
        if is_working_day(day, nation):
            remaining -= 1
    return day


def working_days_between(start: date, end: date, nation: str) -> int:
    """Working days after `start` up to and including `end` (0 when end <= start)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if is_working_day(day, nation):
            count += 1
    return count


def due_date(start: date, working_days: int, nation: str) -> date:
    return add_working_days(start, working_days, nation)
