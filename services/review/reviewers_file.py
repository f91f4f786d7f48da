"""The reviewer directory file: {"reviewers": [{"id", "name", "kind", "specialties", ...}]}."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from services.common.validation import NonEmpty, bad_input_from, load_json_object
from services.review.domain.reviewers import Reviewer


class ReviewerIn(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)
    id: NonEmpty
    name: NonEmpty
    kind: Literal["in_house", "network", "consultant"]
    specialties: list[NonEmpty] = Field(min_length=1)
    organisation: NonEmpty
    gmc_number: StrictStr | None = None


class DirectoryIn(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)
    reviewers: list[ReviewerIn]


def parse_reviewers(text: str) -> list[Reviewer]:
    try:
        directory = DirectoryIn.model_validate(load_json_object(text))
    except ValidationError as error:
        raise bad_input_from(error) from None
    return [
        Reviewer(r.id, r.name, r.kind, tuple(r.specialties), r.organisation, r.gmc_number)
        for r in directory.reviewers
    ]
