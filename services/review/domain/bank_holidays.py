"""The UK bank holidays per nation, as the pinned `holidays` package lists them, kept as a
data file so a due date needs no import of that package (it loads every country: about
0.15 s). `make holidays` (python -m services.review.domain.bank_holidays) rewrites the
file; a test fails when it differs from what the package says."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

DATA = Path(__file__).with_name("data") / "bank_holidays.json"
#: The years the file covers; a date outside them asks the package itself.
FIRST_YEAR, LAST_YEAR = 2000, 2075
NATIONS = ("ENG", "WLS", "SCT", "NIR")


def from_package(nation: str, years: range) -> dict[int, list[str]]:
    import holidays

    found = holidays.country_holidays("GB", subdiv=nation, years=list(years))
    by_year: dict[int, list[str]] = {year: [] for year in years}
    for day in sorted(found.keys()):
        by_year[day.year].append(day.isoformat())
    return by_year


def render() -> str:
    years = range(FIRST_YEAR, LAST_YEAR + 1)
    table = {nation: {str(y): days for y, days in from_package(nation, years).items()} for nation in NATIONS}
    return json.dumps(table, indent=1, sort_keys=True) + "\n"


_TABLE: dict[str, dict[str, list[str]]] | None = None


def listed(nation: str, year: int) -> frozenset[date]:
    """The nation's bank holidays in `year`."""
    global _TABLE
    if not FIRST_YEAR <= year <= LAST_YEAR:
        return frozenset(date.fromisoformat(d) for d in from_package(nation, range(year, year + 1))[year])
    if _TABLE is None:
        _TABLE = json.loads(DATA.read_text())
    return frozenset(date.fromisoformat(d) for d in _TABLE[nation][str(year)])


if __name__ == "__main__":
    DATA.write_text(render())
