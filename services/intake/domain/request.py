"""The case request file of SPEC section 4, validated before anything is recorded."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictStr
from pydantic import ValidationError

from services.common.errors import BadInput
from services.intake.domain.identifiers import nhs_number_is_valid, normalise_nhs_number


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


class _Strict(BaseModel):
    # Unknown fields are ignored: senders may add their own fields without being refused.
    model_config = ConfigDict(frozen=True, extra="ignore")


class MemberIn(_Strict):
    name: NonEmpty
    date_of_birth: IsoDate
    nhs_number: NonEmpty
    postcode: NonEmpty
    email: StrictStr | None = None
    phone: StrictStr | None = None
    nation: Literal["ENG", "WLS", "SCT", "NIR"] = "ENG"


class GpIn(_Strict):
    name: StrictStr | None = None
    practice: StrictStr | None = None
    email: StrictStr | None = None


class ConditionIn(_Strict):
    name: NonEmpty
    icd10: StrictStr | None = None
    specialty: NonEmpty
    nature: Literal["acute", "chronic"]
    diagnosed_on: IsoDate
    history: list[IsoDate] = []


class DiagnosisIn(_Strict):
    by: StrictStr | None = None
    summary: StrictStr | None = None


class CaseRequest(_Strict):
    policy_number: NonEmpty
    requested_on: IsoDate
    member: MemberIn
    gp: GpIn | None = None
    condition: ConditionIn
    diagnosis: DiagnosisIn | None = None
    proposed_treatment: NonEmpty


def parse_case_request(text: str, today: date) -> CaseRequest:
    """Validate a request file; raise BadInput naming the first bad field."""
    data = load_json_object(text)
    try:
        request = CaseRequest.model_validate(data)
    except ValidationError as error:
        raise bad_input_from(error) from None
    check_dates(request, today)
    if not nhs_number_is_valid(request.member.nhs_number):
        raise BadInput("member.nhs_number", "fails the NHS number modulus-11 check")
    return request.model_copy(
        update={
            "member": request.member.model_copy(
                update={"nhs_number": normalise_nhs_number(request.member.nhs_number)}
            )
        }
    )


def check_dates(request: CaseRequest, today: date) -> None:
    dated = [
        ("requested_on", request.requested_on),
        ("member.date_of_birth", request.member.date_of_birth),
        ("condition.diagnosed_on", request.condition.diagnosed_on),
        *((f"condition.history[{i}]", d) for i, d in enumerate(request.condition.history)),
    ]
    for field, value in dated:
        if value > today:
            raise BadInput(field, f"{value} is after today ({today})")
    if request.condition.diagnosed_on > request.requested_on:
        raise BadInput("condition.diagnosed_on", "is after requested_on")


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
