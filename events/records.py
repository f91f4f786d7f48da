"""Events recorded by records: consent per scope, records collection, the review pack."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from events.envelope import CaseEvent
from events.intake import DeliveryModel, Nation

ConsentScope = Literal["records_access", "third_party_disclosure", "share_with_gp"]
RecordKind = Literal[
    "clinical_letter", "imaging", "pathology", "blood_test", "treatment_plan", "gp_summary"
]
CONSENT_SCOPES: tuple[str, ...] = ConsentScope.__args__  # type: ignore[attr-defined]
RECORD_KINDS: tuple[str, ...] = RecordKind.__args__  # type: ignore[attr-defined]


class ClinicalFacts(BaseModel):
    """What a reviewer may need to know of the case; no direct identifier. The free text is
    the de-identified text intake made (sealed under the member's key), never the member's
    own words; None for a case opened before intake de-identified free text."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    age_band: str
    outward_code: str
    nation: Nation
    condition: str
    icd10: str | None = None
    specialty: str
    nature: Literal["acute", "chronic"]
    diagnosed_on: date
    diagnosis_summary: str | None = None
    proposed_treatment: str | None = None


class CaseFileOpened(CaseEvent):
    """Records opened a file when the request arrived; it waits for eligibility.

    v2: the free text is de-identified, and may be absent. v1 carried the request's free text
    as given (sealed, but naming the member); it upcasts with that text dropped."""

    type_name = "case_file_opened"
    service = "records"
    schema_version: ClassVar[int] = 2
    facts: ClinicalFacts


class ConsentRequested(CaseEvent):
    """The case is eligible; the member is asked for consent before any collection."""

    type_name = "consent_requested"
    service = "records"
    model: DeliveryModel
    sla_working_days: int


class CaseFileClosed(CaseEvent):
    """Nothing more will be collected or disclosed for this case (declined, cancelled, or
    concluded: the report went out; consents may still change, nothing is released again)."""

    type_name = "case_file_closed"
    service = "records"
    reason: Literal["declined", "cancelled", "concluded"]


class ReviewConsentWithdrawn(CaseEvent):
    """The member withdrew a consent the running review stands on (records access; for a
    third-party review, disclosure): the review stops its clock and waits. Records decides
    this once; review acts on this event alone."""

    type_name = "review_consent_withdrawn"
    service = "records"
    scope: ConsentScope
    withdrawal_event_id: UUID


class CaseReadyForReview(CaseEvent):
    """Records are complete and every consent the model needs is in force."""

    type_name = "case_ready_for_review"
    service = "records"
    model: DeliveryModel
    specialty: str
    nation: Nation
    sla_working_days: int
    ready_on: date
    pack_id: UUID | None = None
    consent_event_id: UUID | None = Field(
        default=None, description="The third_party_disclosure grant, for the third_party model"
    )


class ConsentGranted(CaseEvent):
    """The member granted one consent scope."""

    type_name = "consent_granted"
    service = "records"
    scope: ConsentScope
    channel: str = Field(description="How the consent was given, e.g. 'case_handler', 'portal'")


class ConsentWithdrawn(CaseEvent):
    """The member withdrew one consent scope; what it allowed stops from now on."""

    type_name = "consent_withdrawn"
    service = "records"
    scope: ConsentScope
    channel: str
    grant_event_id: UUID = Field(description="The grant this withdrawal ends")


class RecordsRequested(CaseEvent):
    """Records were requested from a source under the member's records_access consent."""

    type_name = "records_requested"
    service = "records"
    kind: RecordKind
    source: str
    consent_event_id: UUID


class RecordReceived(CaseEvent):
    """A medical record arrived from a source."""

    type_name = "record_received"
    service = "records"
    record_id: UUID
    kind: RecordKind
    source: str
    consent_event_id: UUID = Field(description="The records_access grant in force")


class RecordsUnobtainable(CaseEvent):
    """A source said it cannot supply the records asked of it."""

    type_name = "records_unobtainable"
    service = "records"
    source: str
    reason: str


class RecordsCompleted(CaseEvent):
    """The case handler judged the records complete for review."""

    type_name = "records_completed"
    service = "records"
    records_received: int
    unobtainable_sources: tuple[str, ...] = ()


class CollectionSuspended(CaseEvent):
    """Collection stopped: consent withdrawn, or nothing could be obtained."""

    type_name = "collection_suspended"
    service = "records"
    reason: Literal["consent_withdrawn", "records_unobtainable"]


class CollectionResumed(CaseEvent):
    type_name = "collection_resumed"
    service = "records"
    reason: str


class PackRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    kind: RecordKind
    received_on: date
    days_after_diagnosis: int = Field(
        description="When it arrived, in days after the diagnosis: what a partner is given")


class ReviewPack(BaseModel):
    """The pseudonymised review pack: built from an allow-list, never by deleting fields.

    The free text is the de-identified text made at intake, sealed under the member's key;
    None where the case was opened before intake de-identified free text."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    pseudonym: str = Field(description="Case pseudonym; only the insurer can link it back")
    age_band: str
    outward_code: str
    nation: Nation
    condition: str
    icd10: str | None = None
    specialty: str
    nature: Literal["acute", "chronic"]
    diagnosed_on: date
    diagnosis_summary: str | None = None
    proposed_treatment: str | None = None
    records: tuple[PackRecord, ...] = Field(description="Each record's kind and date, in the order received")


class ReviewPackPrepared(CaseEvent):
    """The pseudonymised pack for an external reviewer, allowed by a disclosure consent.

    v2: de-identified free text (or none), and each record's date relative to the diagnosis.
    v1 carried the request's free text as given; it upcasts with that text dropped."""

    type_name = "review_pack_prepared"
    service = "records"
    schema_version: ClassVar[int] = 2
    pack_id: UUID
    pack: ReviewPack
    ruleset_version: str
    consent_event_id: UUID = Field(description="The third_party_disclosure grant in force")


class ReviewPackRecalled(CaseEvent):
    """A pack already released must be recalled and destroyed by its recipient."""

    type_name = "review_pack_recalled"
    service = "records"
    pack_id: UUID
    reason: str
    withdrawal_event_id: UUID
