"""Calendar arithmetic in the policy wording's sense."""

from __future__ import annotations

from datetime import date


def add_years(day: date, years: int) -> date:
    """Same month and day N calendar years on; 29 February falls on 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)
