"""The messages a reviewer partner exchanges with the insurer (SPEC section 9).

Not case events: they travel only on the partner's own topics, as plain JSON described by
the published JSON Schemas (events/schema/partner/) and the AsyncAPI document, so a
partner needs neither this code nor the case topics. On `partner.<NAME>.requests.v1` the
insurer sends `review_requested`, `review_recalled` and `opinion_rejected`; on
`partner.<NAME>.opinions.v1` the partner answers with `opinion_given` and
`recall_acknowledged`. Every message is keyed by its pack id, and carries a `message_id`
the receiver uses to drop a redelivered copy.

What reaches a partner carries no direct identifier: a pack id (never the case id), an age
band, the outward code, the nation, and free text from which every identifier of the
member and the GP was removed (services/common/deidentify.py) before it was sealed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from events.intake import Nation
from events.records import RecordKind
from events.review import Outcome

SCHEMA_VERSION: Literal[1] = 1


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    schema_version: Literal[1] = Field(1, description="Message major version")
    message_id: UUID = Field(description="Unique per message; a receiver drops a second copy")
    pack_id: UUID = Field(description="The review pack this message is about; never the case id")


class PackCondition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    name: str = Field(max_length=200)
    icd10: str | None = Field(None, max_length=10)
    nature: Literal["acute", "chronic"]


class PackRecordEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    kind: RecordKind
    days_after_diagnosis: int = Field(description="Dates are relative to the diagnosis, never absolute")


# -- insurer -> partner (requests topic) ------------------------------------------------------


class ReviewRequested(_Message):
    """The pseudonymised review pack: please review it and answer by `respond_by`."""

    type: Literal["review_requested"] = "review_requested"
    sent_at: datetime
    respond_by: date = Field(description="The partner's deadline; after it the referral may be routed anew")
    age_band: str
    outward_code: str = Field(max_length=4, description="The outward part of the postcode only")
    nation: Nation
    specialty: str
    condition: PackCondition
    diagnosis_summary: str | None = Field(None, description="De-identified free text")
    proposed_treatment: str | None = Field(None, description="De-identified free text")
    records: tuple[PackRecordEntry, ...] = ()


class ReviewRecalled(_Message):
    """Stop work on the pack and destroy it; acknowledge with `recall_acknowledged`."""

    type: Literal["review_recalled"] = "review_recalled"
    recalled_at: datetime
    reason: Literal["consent_withdrawn", "case_cancelled", "rerouted", "partner_removed", "sla_missed"]
    acknowledge_by: datetime


class OpinionRejected(_Message):
    """An opinion (or acknowledgement) the insurer could not accept; nothing changed."""

    type: Literal["opinion_rejected"] = "opinion_rejected"
    rejected_at: datetime
    rejected_message_id: UUID | None = Field(None, description="The partner's message, when readable")
    reason: Literal["invalid", "unknown_pack", "recalled", "duplicate", "late", "not_yours"]
    detail: str = Field(max_length=500, description="What was wrong, naming the field; never data")


# -- partner -> insurer (opinions topic) ------------------------------------------------------


class OpinionGiven(_Message):
    """The partner's expert opinion on a pack."""

    type: Literal["opinion_given"] = "opinion_given"
    outcome: Outcome
    summary: str = Field(min_length=1, max_length=20_000)
    reviewer: str = Field(min_length=1, max_length=200, description="The partner's own expert")
    given_at: datetime


class RecallAcknowledged(_Message):
    """The partner stopped work on a recalled pack and destroyed its copy."""

    type: Literal["recall_acknowledged"] = "recall_acknowledged"
    acknowledged_at: datetime


RequestMessage = Annotated[ReviewRequested | ReviewRecalled | OpinionRejected, Field(discriminator="type")]
OpinionMessage = Annotated[OpinionGiven | RecallAcknowledged, Field(discriminator="type")]

#: Wire type name -> model, per direction (the AsyncAPI document and JSON Schemas use these).
TO_PARTNER: dict[str, type[_Message]] = {
    "review_requested": ReviewRequested, "review_recalled": ReviewRecalled,
    "opinion_rejected": OpinionRejected}
FROM_PARTNER: dict[str, type[_Message]] = {
    "opinion_given": OpinionGiven, "recall_acknowledged": RecallAcknowledged}
