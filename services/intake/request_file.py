"""The case request file of SPEC section 4, validated before anything is recorded."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError

from services.common.errors import BadInput
from services.common.validation import IsoDate, NonEmpty, bad_input_from, load_json_object
from services.intake.domain.identifiers import nhs_number_is_valid, normalise_nhs_number


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
