"""The case request file of SPEC section 4, validated before anything is recorded.

Bad input (BadInput naming the field by its dotted path, nothing recorded): malformed JSON,
a missing required field, `null` for a required field, a wrong JSON type, a date not in
the form YYYY-MM-DD, an unknown `nature` or `nation`, any date after today,
`condition.diagnosed_on` or `member.date_of_birth` after `requested_on`, an NHS number
that holds anything but the ASCII digits 0-9 (spaces between the 3-3-4 groups allowed) or
fails its modulus-11 check, and a required text that is empty or only whitespace
(Unicode whitespace and invisible characters included).

Optional fields: `null` means absent, so the default applies (nation ENG, history empty).
An optional text that is empty or only whitespace (`gp.email: " "`) is also treated as
absent rather than refused: insurers' claims systems export unused columns as blanks, a
blank says nothing about the member, and refusing the whole request over, say, a blank GP
email would only delay the member's review. A `gp` or `diagnosis` with nothing in it is
absent too.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, ValidationError, field_validator

from services.common.errors import BadInput
from services.common.validation import (
    InputModel,
    IsoDate,
    NonEmpty,
    OptionalText,
    bad_input_from,
    load_json_object,
)
from services.intake.domain.identifiers import (
    nhs_number_is_valid,
    nhs_number_is_well_formed,
    normalise_nhs_number,
)


def _nhs_number(text: str) -> str:
    """The number as ten ASCII digits, whether it was written with spaces or not."""
    if not nhs_number_is_well_formed(text):
        raise ValueError(
            "must hold only the ASCII digits 0-9 (spaces between the 3-3-4 groups allowed)"
        )
    if not nhs_number_is_valid(text):
        raise ValueError("fails the NHS number modulus-11 check")
    return normalise_nhs_number(text)


NhsNumber = Annotated[NonEmpty, AfterValidator(_nhs_number)]


class MemberIn(InputModel):
    name: NonEmpty
    date_of_birth: IsoDate
    nhs_number: NhsNumber
    postcode: NonEmpty
    email: OptionalText = None
    phone: OptionalText = None
    nation: Literal["ENG", "WLS", "SCT", "NIR"] = "ENG"


class GpIn(InputModel):
    name: OptionalText = None
    practice: OptionalText = None
    email: OptionalText = None


class ConditionIn(InputModel):
    name: NonEmpty
    icd10: OptionalText = None
    specialty: NonEmpty
    nature: Literal["acute", "chronic"]
    diagnosed_on: IsoDate
    history: list[IsoDate] = Field(default_factory=list)


class DiagnosisIn(InputModel):
    by: OptionalText = None
    summary: OptionalText = None


class CaseRequest(InputModel):
    policy_number: NonEmpty
    requested_on: IsoDate
    member: MemberIn
    gp: GpIn | None = None
    condition: ConditionIn
    diagnosis: DiagnosisIn | None = None
    proposed_treatment: NonEmpty

    @field_validator("gp", "diagnosis", mode="after")
    @classmethod
    def _empty_section_is_absent(cls, section: Any) -> Any:
        if isinstance(section, BaseModel) and not any(section.model_dump().values()):
            return None
        return section


def parse_case_request(text: str, today: date) -> CaseRequest:
    """Validate a request file; raise BadInput naming the first bad field.

    The NHS number comes back normalised to ten digits."""
    data = load_json_object(text)
    try:
        request = CaseRequest.model_validate(data)
    except ValidationError as error:
        raise bad_input_from(error) from None
    check_dates(request, today)
    return request


def check_dates(request: CaseRequest, today: date) -> None:
    """No date after today (London); no diagnosis or birth after the request."""
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
    if request.member.date_of_birth > request.requested_on:
        raise BadInput("member.date_of_birth", "is after requested_on")
