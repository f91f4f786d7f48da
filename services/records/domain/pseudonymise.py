"""The review pack for an external reviewer, built field by field from an allow-list.

Nothing is copied wholesale and then pruned: a field reaches a partner only because it is
named here. Direct identifiers (name, NHS number, date of birth, full postcode, email,
phone, GP details) never reach this module at all: records only holds ClinicalFacts.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date
from uuid import UUID

from events.records import ClinicalFacts, PackRecord, ReviewPack

RULESET_VERSION = "review-pack-allowlist-1"


def case_pseudonym(case_id: UUID, key: bytes) -> str:
    """Stable per case, meaningless outside the insurer (keyed, not a plain hash)."""
    digest = hmac.new(key, case_id.bytes, hashlib.sha256).hexdigest()
    return f"SMO-{digest[:12].upper()}"


def pseudonymise_review_pack(
    case_id: UUID, facts: ClinicalFacts, records: list[tuple[str, date]], key: bytes
) -> ReviewPack:
    return ReviewPack(
        pseudonym=case_pseudonym(case_id, key),
        age_band=facts.age_band,
        outward_code=facts.outward_code,
        nation=facts.nation,
        condition=facts.condition,
        icd10=facts.icd10,
        specialty=facts.specialty,
        nature=facts.nature,
        diagnosed_on=facts.diagnosed_on,
        diagnosis_summary=facts.diagnosis_summary,
        proposed_treatment=facts.proposed_treatment,
        records=tuple(PackRecord(kind=kind, received_on=day) for kind, day in records),  # type: ignore[arg-type]
    )
