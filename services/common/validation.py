"""Reading the JSON files users hand in: strict dates, and errors that name the field."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StrictStr,
    ValidationError,
    model_validator,
)

from services.common.context import LONDON
from services.common.errors import BadInput

# ASCII digits only: `\d` would also match fullwidth, Arabic-Indic and other Unicode digits.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: The earliest year a date in a request or register may have (the moratorium rule also
#: reaches 5 years before a policy's start, which must stay a real date).
EARLIEST_YEAR = 1900

#: Characters that show nothing: separators (spaces of every width, line and paragraph
#: separators), controls (tabs, newlines) and format characters (zero-width space, BOM).
_INVISIBLE = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})


def _iso_date(value: Any) -> date:
    """Only YYYY-MM-DD strings: no timestamps, no numbers, no other calendar formats."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a date string YYYY-MM-DD")
    if not _ISO_DATE.fullmatch(value):
        raise ValueError(f"'{value}' is not an ISO date (YYYY-MM-DD)")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an ISO date (YYYY-MM-DD)") from None
    if day.year < EARLIEST_YEAR:  # no policy, person or diagnosis here predates it
        raise ValueError(f"'{value}' is before {EARLIEST_YEAR}: not a plausible date")
    return day


def is_blank(text: str) -> bool:
    """Empty, or only whitespace or invisible characters ("\\u00a0", "\\u2003", "\\u200b")."""
    return all(ch.isspace() or unicodedata.category(ch) in _INVISIBLE for ch in text)


def _not_blank(text: str) -> str:
    if is_blank(text):
        raise ValueError("must not be empty or only whitespace")
    return text


def _blank_is_absent(value: Any) -> Any:
    return None if isinstance(value, str) and is_blank(value) else value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
#: A required text: a JSON string with something visible in it.
NonEmpty = Annotated[StrictStr, AfterValidator(_not_blank)]
#: An optional text: null, empty or only whitespace all mean "not given" (None).
OptionalText = Annotated[StrictStr | None, BeforeValidator(_blank_is_absent)]


class InputModel(BaseModel):
    """A section of an input file.

    Unknown fields are ignored: senders may add their own fields without being refused.
    `null` for a field that may be left out means it was left out, so its default applies
    (a nation defaults to ENG, a history to empty); `null` for a required field is refused.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _null_means_absent(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        optional = {name for name, field in cls.model_fields.items() if not field.is_required()}
        return {key: value for key, value in data.items() if value is not None or key not in optional}


#: Wrong JSON types, said in JSON's words rather than pydantic's class names.
_WRONG_TYPE = {
    "string_type": "must be a JSON string",
    "model_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a JSON list",
    "bool_type": "must be true or false",
    "int_type": "must be a whole number",
}


def load_json_object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadInput("file", f"malformed JSON ({error.msg} at line {error.lineno})") from None
    except RecursionError:
        raise BadInput("file", "nested too deeply to be a request or a register") from None
    except ValueError:  # e.g. an integer literal beyond Python's digit limit
        raise BadInput("file", "holds a number too large to read") from None
    if not isinstance(data, dict):
        raise BadInput("file", "must hold a JSON object")
    _check_text(data, "")
    return data


def _check_text(value: Any, path: str) -> None:
    """Every string must be real Unicode text: a lone surrogate ("\\ud800") is not."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadInput(path or "file", "holds an invalid character (a lone surrogate)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, path or "file")
            _check_text(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(item, f"{path}[{index}]")


def bad_input_from(error: ValidationError) -> BadInput:
    """The first problem pydantic found, with its dotted field path."""
    first = error.errors()[0]
    path = ".".join(
        f"[{part}]" if isinstance(part, int) else str(part) for part in first["loc"]
    ).replace(".[", "[")
    kind = first["type"]
    if kind == "missing":
        problem = "is required"
    elif kind in _WRONG_TYPE:
        problem = _WRONG_TYPE[kind] + (" (not null)" if first.get("input", ...) is None else "")
    elif kind in ("literal_error", "enum"):
        problem = f"must be one of {first.get('ctx', {}).get('expected', '')}".rstrip()
    else:
        problem = first["msg"].removeprefix("Value error, ")
    return BadInput(path or "file", problem)


def parse_moment(text: str, field: str) -> datetime:
    """An `--as-of`/`as_of` moment: ISO time; without a zone it is London time; a bare date
    means the end of that London day. Anything else is bad input naming `field`."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1), time(), LONDON) - timedelta(microseconds=1)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise BadInput(field, f"'{text}' is not an ISO time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=LONDON)
