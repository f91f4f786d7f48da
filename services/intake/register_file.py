"""The policy register file of SPEC section 3, validated before anything is recorded.

A required text (number, insurer, product) that is empty or only whitespace is bad input.
`null` for a field that may be left out means it was left out: `end_date` open-ended,
`exclusions` none, `second_opinion.model` none, `sla_working_days` the default 10.
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from events.intake import PolicyTerms, SecondOpinionBenefit
from services.common.errors import BadInput
from services.common.validation import (
    InputModel,
    IsoDate,
    NonEmpty,
    bad_input_from,
    load_json_object,
)


class SecondOpinionIn(InputModel):
    included: StrictBool
    model: Literal["in_house", "third_party", "further_consultation"] | None = None
    sla_working_days: StrictInt = Field(default=10, ge=1, le=30)

    @model_validator(mode="after")
    def _model_when_included(self) -> SecondOpinionIn:
        if self.included and self.model is None:
            raise ValueError("model is required when the benefit is included")
        return self


class PolicyIn(InputModel):
    number: NonEmpty
    insurer: NonEmpty
    product: NonEmpty
    start_date: IsoDate
    end_date: IsoDate | None = None
    status: Literal["active", "lapsed", "cancelled"]
    underwriting: Literal["moratorium", "full_medical", "medical_history_disregarded"]
    exclusions: list[StrictStr] = Field(default_factory=list)
    second_opinion: SecondOpinionIn

    @model_validator(mode="after")
    def _ends_after_start(self) -> PolicyIn:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class RegisterIn(InputModel):
    policies: list[PolicyIn]


def parse_register(text: str) -> list[PolicyTerms]:
    data = load_json_object(text)
    try:
        register = RegisterIn.model_validate(data)
    except ValidationError as error:
        raise bad_input_from(error) from None
    seen: set[str] = set()
    for index, policy in enumerate(register.policies):
        if policy.number in seen:
            raise BadInput(f"policies[{index}].number", f"{policy.number} appears twice")
        seen.add(policy.number)
    return [to_terms(policy) for policy in register.policies]


def to_terms(policy: PolicyIn) -> PolicyTerms:
    return PolicyTerms(
        number=policy.number,
        insurer=policy.insurer,
        product=policy.product,
        start_date=policy.start_date,
        end_date=policy.end_date,
        status=policy.status,
        underwriting=policy.underwriting,
        exclusions=tuple(policy.exclusions),
        second_opinion=SecondOpinionBenefit(**policy.second_opinion.model_dump()),
    )
