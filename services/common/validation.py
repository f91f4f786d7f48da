"""Reading the JSON files users hand in: strict dates, and errors that name the field."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictStr, ValidationError

from services.common.errors import BadInput

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> date:
    """Only YYYY-MM-DD strings: no timestamps, no numbers, no other calendar formats."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a date string YYYY-MM-DD")
    if not _ISO_DATE.fullmatch(value):
        raise ValueError(f"'{value}' is not an ISO date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an ISO date (YYYY-MM-DD)") from None


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
NonEmpty = Annotated[StrictStr, Field(min_length=1)]


def load_json_object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadInput("file", f"malformed JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(data, dict):
        raise BadInput("file", "must hold a JSON object")
    return data


def bad_input_from(error: ValidationError) -> BadInput:
    """The first problem pydantic found, with its dotted field path."""
    first = error.errors()[0]
    path = ".".join(
        f"[{part}]" if isinstance(part, int) else str(part) for part in first["loc"]
    ).replace(".[", "[")
    kind = first["type"]
    if kind == "missing":
        problem = "is required"
    elif kind in ("literal_error", "enum"):
        problem = f"must be one of {first.get('ctx', {}).get('expected', '')}".rstrip()
    else:
        problem = first["msg"].removeprefix("Value error, ")
    return BadInput(path or "file", problem)
