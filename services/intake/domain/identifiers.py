"""Checks and reductions of direct identifiers: NHS number, age band, outward code."""

from __future__ import annotations

import re
from datetime import date

_NHS_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})$")


def normalise_nhs_number(text: str) -> str:
    """Digits only: NHS numbers are often written '943 476 5919'."""
    return re.sub(r"[\s-]", "", text)


def nhs_number_is_valid(text: str) -> bool:
    """Modulus 11: weights 10..2 on the first nine digits; 11 - remainder is the check
    digit, 11 counts as 0, and 10 means the number cannot be valid."""
    digits = normalise_nhs_number(text)
    if not re.fullmatch(r"\d{10}", digits):
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], _NHS_WEIGHTS, strict=False))
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10:
        return False
    return check == int(digits[9])


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def age_band(born: date, day: date) -> str:
    """Ten-year bands; 90 and over share one band, so the very old are not singled out."""
    age = age_on(born, day)
    if age >= 90:
        return "90+"
    low = (age // 10) * 10
    return f"{low}-{low + 9}"


def outward_code(postcode: str) -> str:
    """The part of a UK postcode before the space: district, never the street."""
    cleaned = postcode.strip().upper()
    match = _POSTCODE.match(cleaned)
    if match:
        return match.group(1)
    return cleaned.split()[0][:4] if cleaned else ""
