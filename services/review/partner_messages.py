"""The partner messages of SPEC section 9, read and written by review (no Kafka here).

In: a partner's raw bytes are validated against events/partner.py; what is wrong is told
by field and problem, never by quoting the data. Out: review's stored events become the
messages on the partner's requests topic, each with `message_id` = the stored event's id,
so a partner recognises a redelivered copy.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter, ValidationError

from events.envelope import DomainEvent
from events.partner import (
    FROM_PARTNER,
    OpinionGiven,
    OpinionMessage,
    OpinionRejected,
    PackCondition,
    PackRecordEntry,
    RecallAcknowledged,
    ReviewRecalled,
    ReviewRequested,
)
from events.records import ReviewPack
from events.review import (
    NetworkReferralSent,
    NetworkReferralWithdrawn,
    PartnerMessageRejected,
    PartnerOpinionRejected,
)

#: What review sends a partner, on its requests topic.
ToPartner = ReviewRequested | ReviewRecalled | OpinionRejected



@cache
def _inbound() -> TypeAdapter[OpinionGiven | RecallAcknowledged]:
    """The partner messages' validator, built on first use: building it at import was 40 ms
    of every command that loads review's service."""
    return TypeAdapter(OpinionMessage)


MAX_MESSAGE_BYTES = 256 * 1024

#: The types of review's stored events that go to a partner.
OUTBOUND_TYPES = tuple(e.type_name for e in (NetworkReferralSent, NetworkReferralWithdrawn,
                                             PartnerOpinionRejected, PartnerMessageRejected))


@dataclass(frozen=True)
class Parsed:
    """A partner's message: the valid model, or why it is invalid (with whatever ids could
    still be read, so the rejection can name them)."""

    message: OpinionGiven | RecallAcknowledged | None
    problem: str | None
    pack_id: UUID | None
    message_id: UUID | None


def parse_partner_message(raw: bytes | str) -> Parsed:
    if isinstance(raw, bytes) and len(raw) > MAX_MESSAGE_BYTES:
        return Parsed(None, f"message: over {MAX_MESSAGE_BYTES // 1024} KiB", None, None)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return Parsed(None, "message: not JSON", None, None)
    if not isinstance(data, dict):
        return Parsed(None, "message: not a JSON object", None, None)
    pack_id, message_id = _uuid(data.get("pack_id")), _uuid(data.get("message_id"))
    try:
        message = _inbound().validate_python(data)
    except ValidationError as error:
        return Parsed(None, describe(error), pack_id, message_id)
    return Parsed(message, None, message.pack_id, message.message_id)


def describe(error: ValidationError) -> str:
    """The first problems, by field: `outcome: Input should be ...` (no input echoed)."""
    parts = []
    for problem in error.errors(include_input=False, include_url=False)[:3]:
        loc = problem["loc"]
        if loc and loc[0] in FROM_PARTNER:  # the union's tag: the field is what follows
            loc = loc[1:]
        where = ".".join(str(p) for p in loc) or ("type" if problem["type"].startswith("union_tag") else "message")
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts)[:500]


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(str(value)) if value is not None else None
    except ValueError:
        return None


# -- out ---------------------------------------------------------------------------------------

#: A withdrawal's reason as the partner's recall names it.
RECALL_REASONS = {"case_cancelled": "case_cancelled", "sla_missed": "sla_missed",
                  "partner_removed": "partner_removed"}


def recall_reason(reason: str) -> str:
    if reason in RECALL_REASONS:
        return RECALL_REASONS[reason]
    if reason.endswith("_withdrawn"):
        return "consent_withdrawn"
    return "rerouted"


def _second_line_of_defence() -> Callable[[str], str]:
    """services/common/deidentify.py's `deidentify_unknown`, where it exists: the pack's
    free text was de-identified when records built it; this catches what slipped through."""
    try:
        module = importlib.import_module("services.common.deidentify")
    except ImportError:
        return lambda text: text
    found = getattr(module, "deidentify_unknown", None)
    return found if callable(found) else (lambda text: text)


deidentify = _second_line_of_defence()


def free_text(value: str | None, unseal: Callable[[str], str]) -> str | None:
    """The pack's sealed free text, unsealed and de-identified again; None when the
    member's key is gone (erased) or the text unreadable."""
    if value is None:
        return None
    text = unseal(value)
    if text in ("[erased]", "[unreadable]"):
        return None
    return deidentify(text)


def review_requested(event: NetworkReferralSent, pack: ReviewPack, unseal: Callable[[str], str]) -> ReviewRequested:
    assert event.respond_by is not None
    diagnosed = pack.diagnosed_on
    return ReviewRequested(
        schema_version=1, message_id=event.event_id, pack_id=event.pack_id, sent_at=event.occurred_at,
        respond_by=event.respond_by, age_band=pack.age_band, outward_code=pack.outward_code[:4],
        nation=pack.nation, specialty=pack.specialty,
        condition=PackCondition(name=pack.condition, icd10=pack.icd10, nature=pack.nature),
        diagnosis_summary=free_text(pack.diagnosis_summary, unseal),
        proposed_treatment=free_text(pack.proposed_treatment, unseal),
        records=tuple(PackRecordEntry(kind=r.kind, days_after_diagnosis=days_after(r, diagnosed))
                      for r in pack.records),
    )


def days_after(record: Any, diagnosed: date) -> int:
    """A record's date relative to the diagnosis (records computes it in packs it builds
    now; an older pack has only the date)."""
    days = getattr(record, "days_after_diagnosis", None)
    return int(days) if days is not None else (record.received_on - diagnosed).days


def review_recalled(event: NetworkReferralWithdrawn) -> ReviewRecalled:
    assert event.acknowledge_by is not None
    return ReviewRecalled(schema_version=1, message_id=event.event_id, pack_id=event.pack_id, recalled_at=event.occurred_at,
                          reason=recall_reason(event.reason),  # type: ignore[arg-type]
                          acknowledge_by=event.acknowledge_by)


def opinion_rejected(event: PartnerOpinionRejected | PartnerMessageRejected, at: datetime | None = None) -> OpinionRejected | None:
    if event.pack_id is None:
        return None  # a partner's message is keyed and answered by pack; without one, only the dead letter tells
    return OpinionRejected(schema_version=1, message_id=event.event_id, pack_id=event.pack_id,
                           rejected_at=at or event.occurred_at, rejected_message_id=event.rejected_message_id,
                           reason=event.reason, detail=event.detail)


def to_partner(event: DomainEvent, pack_of: Callable[[UUID, UUID], ReviewPack | None],
               unseal: Callable[[str], str]) -> tuple[str, ToPartner] | None:
    """(partner, message) for one of review's stored events, or None when it is not for a
    partner over its topics: a referral to a network that answers by other means (no
    deadline), a withdrawal with no recall to acknowledge, a rejection naming no pack.
    `pack_of(case_id, pack_id)` finds the pack review kept."""
    if isinstance(event, NetworkReferralSent):
        if event.respond_by is None:
            return None
        pack = pack_of(event.case_id, event.pack_id)
        return (event.partner, review_requested(event, pack, unseal)) if pack is not None else None
    if isinstance(event, NetworkReferralWithdrawn):
        return (event.partner, review_recalled(event)) if event.acknowledge_by is not None else None
    if isinstance(event, PartnerOpinionRejected | PartnerMessageRejected):
        rejected = opinion_rejected(event)
        return (event.partner, rejected) if rejected is not None else None
    return None
