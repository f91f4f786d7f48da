"""Checks and reductions of direct identifiers: NHS number, age band, outward code."""

from __future__ import annotations

import re
from datetime import date

_NHS_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})$")


#: Ten ASCII digits, or the usual 3-3-4 groups with spaces between them ('943 476 5919').
#: `[0-9]`, never `\d`: str.isdigit, `\d` and int() also take fullwidth, Arabic-Indic and
#: other Unicode digits, which are not NHS numbers.
_NHS_FORM = re.compile(r"[0-9]{3} *[0-9]{3} *[0-9]{4}")


def nhs_number_is_well_formed(text: str) -> bool:
    """Only the ASCII digits 0-9, with ASCII spaces allowed between the 3-3-4 groups; no
    dashes, dots, other separators, leading or trailing spaces, letters or other digits."""
    return _NHS_FORM.fullmatch(text) is not None


def normalise_nhs_number(text: str) -> str:
    """Digits only: NHS numbers are often written '943 476 5919'. The same member written
    with or without spaces gives the same number, so the same member reference."""
    if not nhs_number_is_well_formed(text):
        raise ValueError("not an NHS number: only the ASCII digits 0-9 and spaces between groups")
    return text.replace(" ", "")


def nhs_number_is_valid(text: str) -> bool:
    """Well formed, and modulus 11: weights 10..2 on the first nine digits; 11 - remainder
    is the check digit, 11 counts as 0, and 10 means the number cannot be valid."""
    if not nhs_number_is_well_formed(text):
        return False
    digits = normalise_nhs_number(text)
    total = sum(int(d) * w for d, w in zip(digits[:9], _NHS_WEIGHTS, strict=True))
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
