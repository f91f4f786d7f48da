"""The review pack for an external reviewer, built field by field from an allow-list.

Nothing is copied wholesale and then pruned: a field reaches a partner only because it is
named here. Direct identifiers (name, NHS number, date of birth, full postcode, email,
phone, GP details) never reach this module at all: records only holds ClinicalFacts, whose
free text intake de-identified before sealing it (services/common/deidentify.py).
"""

from __future__ import annotations

from datetime import date

from events.records import ClinicalFacts, PackRecord, ReviewPack

#: 2: free text de-identified at intake (or none), and record dates relative to the diagnosis.
RULESET_VERSION = "review-pack-allowlist-2"


def pseudonymise_review_pack(
    pseudonym: str, facts: ClinicalFacts, records: list[tuple[str, date]]
) -> ReviewPack:
    """`pseudonym`: the case's keyed pseudonym (services/common/pseudonyms.py)."""
    return ReviewPack(
        pseudonym=pseudonym,
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
        records=tuple(
            PackRecord(kind=kind, received_on=day, days_after_diagnosis=(day - facts.diagnosed_on).days)  # type: ignore[arg-type]
            for kind, day in records
        ),
    )
