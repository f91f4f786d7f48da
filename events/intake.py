"""Events recorded by intake: the policy register, case opening and eligibility."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from events.envelope import CaseEvent, DomainEvent

Nation = Literal["ENG", "WLS", "SCT", "NIR"]
DeliveryModel = Literal["in_house", "third_party", "further_consultation"]
PolicyStatus = Literal["active", "lapsed", "cancelled"]
Underwriting = Literal["moratorium", "full_medical", "medical_history_disregarded"]
ConditionNature = Literal["acute", "chronic"]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class SecondOpinionBenefit(_Value):
    included: bool
    model: DeliveryModel | None = None
    sla_working_days: int = Field(default=10, ge=1, le=30)


class PolicyTerms(_Value):
    number: str
    insurer: str
    product: str
    start_date: date
    end_date: date | None = None
    status: PolicyStatus
    underwriting: Underwriting
    exclusions: tuple[str, ...] = ()
    second_opinion: SecondOpinionBenefit


class PolicyTermsRecorded(DomainEvent):
    """A policy's terms were loaded into the register; they apply from now on."""

    type_name = "policy_terms_recorded"
    service = "intake"
    terms: PolicyTerms
    load_id: UUID = Field(description="The register load this came from")


class MemberProfile(_Value):
    """What may be known of the member outside intake: no direct identifier."""

    age_band: str = Field(description="Age at request in a 10-year band, e.g. '40-49'")
    outward_code: str = Field(description="Outward part of the postcode, e.g. 'SW1A'")
    nation: Nation


class Condition(_Value):
    name: str
    icd10: str | None = None
    specialty: str
    nature: ConditionNature
    diagnosed_on: date
    history: tuple[date, ...] = ()


class Diagnosis(_Value):
    """Free text: sealed under the member's key (it may name the member)."""

    by: str | None = None
    summary: str | None = None


class DeidentifiedText(_Value):
    """The free text with every direct identifier of the member and the GP replaced by a
    typed placeholder ("[name]", "[NHS number]", ...: services/common/deidentify.py). Sealed
    under the member's key all the same (defence in depth): only a partner gateway unseals it."""

    diagnosis_summary: str | None = None
    proposed_treatment: str


class CaseOpened(CaseEvent):
    """A member asked for a second opinion; the request passed validation."""

    type_name = "case_opened"
    service = "intake"
    policy_number: str
    requested_on: date
    member_ref: UUID = Field(description="Pseudonymous member id; the identity stays in intake")
    member: MemberProfile
    condition: Condition
    diagnosis: Diagnosis | None = None
    proposed_treatment: str
    has_gp: bool
    deidentified: DeidentifiedText | None = Field(
        default=None, description="The free text de-identified at intake; absent on cases opened before")


class MemberIdentity(_Value):
    """Each field sealed under the member's own key (`sealed:v1:...`), never plaintext in
    any store or topic; "[erased]" once the member's key was destroyed."""

    name: str
    date_of_birth: str
    nhs_number: str
    postcode: str
    email: str | None = None
    phone: str | None = None


class GeneralPractitioner(_Value):
    """Sealed like the member's identity: the GP's details identify the member too."""

    name: str | None = None
    practice: str | None = None
    email: str | None = None


class MemberIdentified(CaseEvent):
    """The direct identifiers given with the request. The only event that holds them.

    v2: each identity and GP field sealed under the member's own key. v1 (before per-member
    keys) held them in plaintext; it upcasts unchanged (see events/upcasting.py)."""

    type_name = "member_identified"
    service = "intake"
    schema_version: ClassVar[int] = 2
    member_ref: UUID
    identity: MemberIdentity
    gp: GeneralPractitioner | None = None


class EligibilityConfirmed(CaseEvent):
    """Every eligibility rule passed; the case follows its policy's delivery model."""

    type_name = "eligibility_confirmed"
    service = "intake"
    rule_version: str
    policy_number: str
    policy_version: int
    insurer: str
    product: str
    model: DeliveryModel
    sla_working_days: int
    rules_checked: tuple[str, ...]


class EligibilityDeclined(CaseEvent):
    """At least one eligibility rule failed; all failing reasons, in the rules' order."""

    type_name = "eligibility_declined"
    service = "intake"
    rule_version: str
    policy_number: str
    policy_version: int | None = None
    insurer: str | None = None
    product: str | None = None
    reasons: tuple[str, ...]


class CaseCancelled(CaseEvent):
    """The member (or the insurer on their behalf) cancelled the case."""

    type_name = "case_cancelled"
    service = "intake"
    reason: str
    cancelled_by: Literal["member", "insurer"] = "member"


class CaseConcluded(CaseEvent):
    """Intake learnt the report went out; the case can no longer be cancelled."""

    type_name = "case_concluded"
    service = "intake"
    report_event_id: UUID


class IdentityRevealed(CaseEvent):
    """Someone read the member's identifiers or sealed free text in plaintext (`--reveal`):
    who (the actor), which fields, and why. The auditor sees every such read in the replay."""

    type_name = "identity_revealed"
    service = "intake"
    member_ref: UUID
    fields: tuple[str, ...]
    purpose: str


class MemberErased(CaseEvent):
    """The member's key was destroyed (UK GDPR erasure): every value sealed under it, in any
    store, topic, view or export, can no longer be read. Recorded on each of the member's
    cases, with who asked (the actor) and why."""

    type_name = "member_erased"
    service = "intake"
    member_ref: UUID
    reason: str
