"""The policy register: one aggregate per policy number; a reload is a new event."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from events.envelope import DomainEvent
from events.intake import PolicyTerms, PolicyTermsRecorded
from services.common.aggregate import Aggregate
from services.common.context import Context

_POLICY_NAMESPACE = uuid5(NAMESPACE_URL, "urn:cases:policy")


def policy_id(number: str) -> UUID:
    return uuid5(_POLICY_NAMESPACE, number)


class Policy(Aggregate):
    terms: PolicyTerms

    @classmethod
    def load_terms(cls, existing: Policy | None, terms: PolicyTerms, load_id: UUID, ctx: Context) -> Policy:
        policy = existing or cls(policy_id(terms.number))
        policy.record(PolicyTermsRecorded, ctx, terms=terms, load_id=load_id)
        return policy

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, PolicyTermsRecorded):
            self.terms = event.terms
