"""The API's request and response bodies, as pydantic models: what /openapi.json describes.

Request bodies are read the way the command line reads its files (services/common/validation:
strict JSON, real Unicode text, the first problem named by its field), so the API and the CLI
refuse the same input. Responses carry the same shapes as the CLI's `--json`; a case state
may hold more fields than are listed here (SPEC section 8: the project may add fields).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from events.records import ConsentScope, RecordKind
from events.review import PARTNER_NAME_PATTERN, Outcome
from services.common.validation import InputModel, NonEmpty, OptionalText
from services.partners_admin import MIN_PASSWORD

# -- request bodies ---------------------------------------------------------------------------


class ConsentChange(InputModel):
    scope: ConsentScope
    channel: OptionalText = Field(None, description="How it was given (default: case_handler)")


class RecordIn(InputModel):
    kind: RecordKind
    source: NonEmpty = Field(max_length=500)


class RecordsRequest(InputModel):
    kind: RecordKind
    source: NonEmpty = Field(max_length=500)


class Unobtainable(InputModel):
    source: NonEmpty = Field(max_length=500)
    reason: NonEmpty = Field(max_length=500)


class OpinionIn(InputModel):
    outcome: Outcome
    summary: NonEmpty = Field(max_length=20000)
    reviewer: OptionalText = Field(None, max_length=200,
                                   description="Required from a case handler or admin; a clinician's own name otherwise")


class DeclineIn(InputModel):
    reason: Literal["capacity", "out_of_scope", "unavailable"]


class ConflictIn(InputModel):
    nature: NonEmpty = Field(max_length=2000)


class CancelIn(InputModel):
    reason: OptionalText = Field(None, max_length=500, description="default: member_request")
    by: Literal["member", "insurer"] = "member"


class CloseIn(InputModel):
    reason: OptionalText = Field(None, max_length=500, description="default: report_issued")


class EraseIn(InputModel):
    reason: NonEmpty = Field(max_length=2000, description="Why (the member's request, ...)")


class PartnerIn(InputModel):
    """`cases partner add`: checked as the command line checks it (services/partners_admin.py)."""

    name: StrictStr = Field(max_length=200, json_schema_extra={"pattern": PARTNER_NAME_PATTERN},
                            description="2 to 41 lower-case letters, digits or dashes")
    specialties: list[StrictStr] = Field(max_length=100, json_schema_extra={"minItems": 1},
                                         description="At least one; no empty one, no comma in one")
    password: StrictStr = Field(max_length=1000, json_schema_extra={"minLength": MIN_PASSWORD},
                                description=f"The partner's SCRAM password ({MIN_PASSWORD}+ characters); "
                                            "never echoed")


# -- responses --------------------------------------------------------------------------------


class Open(BaseModel):
    """A result that may carry more than is listed (and `settled`/`pending` when a change
    was recorded before every service had caught up: it happened; do not send it again)."""

    model_config = ConfigDict(extra="allow")
    settled: bool | None = Field(None, description="false: recorded, the followers had not caught up")
    pending: str | None = None


class ErrorBody(Open):
    """Every error: bad_input (field, problem), refused (reason, message), unauthorized,
    forbidden, not_found, too_large, unavailable, internal. Never data, never a trace."""

    error: str
    field: str | None = None
    problem: str | None = None
    reason: str | None = None
    message: str | None = None


class Loaded(Open):
    loaded: int


class ReviewersLoaded(Open):
    loaded: int
    changed: int


class Opened(Open):
    case_id: str
    status: Literal["accepted", "declined"]
    reasons: list[str]
    model: str | None


class Review(Open):
    route: str | None = None
    started_on: str | None = None
    reviewer: str | None = None
    reviewer_id: str | None = None
    partner: str | None = None


class CaseState(Open):
    """SPEC section 8's case state (`cases show`)."""

    case_id: str
    status: str
    model: str | None = None
    member_ref: str | None = None
    consents: list[str] = []
    review: Review | None = None
    review_due: str | None = None
    sla_breached: bool = False
    report_recipients: list[str] = []


class Consents(Open):
    case_id: str
    status: str
    consents: list[str]
    consent_events: dict[str, str]


class Records(Open):
    case_id: str
    status: str
    records: list[dict[str, Any]]
    records_requested: list[Any]
    records_unobtainable: list[Any]
    records_complete: bool


class ReplayEvent(Open):
    type: str
    service: Literal["intake", "records", "review", "reporting"]
    at: str
    actor: str
    data: dict[str, Any] = {}


class Read(Open):
    at: str
    reader: str
    kind: str


class Replay(Open):
    case_id: str
    as_of: str | None
    events: list[ReplayEvent]
    state: CaseState | None
    reads: list[Read] = []
    findings: list[dict[str, Any]] = []


class Verification(Open):
    ok: bool
    events: int
    broken: list[dict[str, Any]]


class ConsentHistory(Open):
    case_id: str
    history: list[dict[str, Any]]


class Analytics(Open):
    weeks: list[dict[str, Any]]
    cases: int


class Due(Open):
    due: str = Field(description="YYYY-MM-DD")


class Sweep(Open):
    breached: int
    by_status: dict[str, int]


class Erased(Open):
    erased: str = Field(description="The member reference (a pseudonym), never an identifier")
    cases: list[str]


class CaseRow(Open):
    case_id: str
    status: str
    review_due: str | None = None
    sla_breached: bool = False


class CaseList(Open):
    cases: list[CaseRow]
    count: int


class PackRecordOut(Open):
    kind: str
    received_on: str


class PackOut(Open):
    """The pseudonymised review pack: an allow-list of clinical facts, no identifier."""

    pseudonym: str
    age_band: str
    outward_code: str
    nation: str
    condition: str
    specialty: str
    nature: str
    diagnosed_on: str
    diagnosis_summary: str | None = None
    proposed_treatment: str | None = None
    records: list[PackRecordOut]


class Pack(Open):
    case_id: str
    pack_id: str | None = Field(description="The pack released to a network; null when built for an in-house review")
    status: str
    model: str | None
    review_due: str | None
    pack: PackOut


class PublicKey(Open):
    public_key: str


class Rights(Open):
    role: str
    name: str
    rights: dict[str, list[str]] = Field(description="action -> the roles that may do it")


class Health(Open):
    ok: bool
    stores: Literal["reachable", "empty", "unreachable"]
    broker: Literal["reachable", "unreachable"] | None = Field(None, description="only with CASES_BUS")


class PartnerAdded(Open):
    """`cases partner add --json`: the partner's principal and topics (never its password)."""

    partner: str
    principal: str
    requests_topic: str
    opinions_topic: str
    specialties: list[str]
    secured: bool = Field(description="false on a plain broker or the embedded runtime")
    broker: str | None = Field(description="the broker set up, null on the embedded runtime")


class PartnerRemoved(Open):
    partner: str
    removed: bool
    rerouted: list[str] = Field(description="the cases whose open referral was routed anew")
    broker: str | None


class OpenReferral(Open):
    case_id: str
    respond_by: str | None


class PartnerOut(Open):
    partner: str
    specialties: list[str]
    open_referrals: list[OpenReferral]
    principal: str
    requests_topic: str
    opinions_topic: str


class PartnerList(Open):
    partners: list[PartnerOut]
