"""Eligibility for a second opinion, rule by rule as SPEC section 5 words it.

All failing reasons are returned, in this order; with policy_not_found no other rule runs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date

from events.intake import PolicyTerms
from services.intake.domain.calendar import add_years

RULE_VERSION = "eligibility-2025.1"

RULES = (
    "policy_not_found",
    "policy_not_in_force",
    "no_second_opinion_benefit",
    "chronic_condition",
    "diagnosed_before_cover",
    "excluded_condition",
    "pre_existing_condition",
)


@dataclass(frozen=True)
class ConditionFacts:
    name: str
    icd10: str | None
    nature: str
    diagnosed_on: date
    history: tuple[date, ...]


@dataclass(frozen=True)
class Decision:
    reasons: tuple[str, ...]
    rule_version: str = RULE_VERSION

    @property
    def accepted(self) -> bool:
        return not self.reasons


def decide(policy: PolicyTerms | None, requested_on: date, condition: ConditionFacts) -> Decision:
    if policy is None:
        return Decision(("policy_not_found",))
    checks = (
        ("policy_not_in_force", not policy_in_force(policy, requested_on)),
        ("no_second_opinion_benefit", not policy.second_opinion.included),
        ("chronic_condition", condition.nature == "chronic"),
        ("diagnosed_before_cover", diagnosed_before_cover(policy, condition)),
        ("excluded_condition", excluded(policy.exclusions, condition)),
        ("pre_existing_condition", pre_existing(policy, condition)),
    )
    return Decision(tuple(code for code, failed in checks if failed))


def policy_in_force(policy: PolicyTerms, on: date) -> bool:
    """Active, and the request falls between start and end dates (both inclusive)."""
    if policy.status != "active" or on < policy.start_date:
        return False
    return policy.end_date is None or on <= policy.end_date


def diagnosed_before_cover(policy: PolicyTerms, condition: ConditionFacts) -> bool:
    """Medical history disregarded ignores when the condition began."""
    if policy.underwriting == "medical_history_disregarded":
        return False
    return condition.diagnosed_on < policy.start_date


def excluded(exclusions: tuple[str, ...], condition: ConditionFacts) -> bool:
    """An exclusion, case-insensitively, equals the name or the ICD-10 code, equals the
    code's category (the part before the dot), or has a dot and begins the code."""
    name = condition.name.strip().casefold()
    code = (condition.icd10 or "").strip().casefold()
    category = code.split(".", 1)[0]
    for raw in exclusions:
        exclusion = raw.strip().casefold()
        if not exclusion:
            continue
        if exclusion == name:
            return True
        if code and (
            exclusion in (code, category) or ("." in exclusion and code.startswith(exclusion))
        ):
            return True
    return False


def pre_existing(policy: PolicyTerms, condition: ConditionFacts) -> bool:
    """Moratorium: history in the 5 years before cover started, not cleared since by
    2 continuous years free of history before the diagnosis."""
    if policy.underwriting != "moratorium":
        return False
    start = policy.start_date
    window_opens = add_years(start, -5)
    if not any(window_opens <= day < start for day in condition.history):
        return False
    return not cleared_by_trouble_free_period(start, condition)


def cleared_by_trouble_free_period(start: date, condition: ConditionFacts) -> bool:
    since_cover = sorted(d for d in condition.history if start <= d < condition.diagnosed_on)
    milestones = [start, *since_cover, condition.diagnosed_on]
    return any(
        later >= add_years(earlier, 2) for earlier, later in itertools.pairwise(milestones)
    )
