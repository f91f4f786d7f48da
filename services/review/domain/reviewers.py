"""The reviewer directory: who may review what, matched on specialty and route."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from uuid import NAMESPACE_URL, UUID, uuid5

from events.envelope import DomainEvent
from events.review import ReviewerRegistered
from services.common.aggregate import Aggregate
from services.common.context import Context

DIRECTORY_ID = uuid5(NAMESPACE_URL, "urn:cases:reviewer-directory")

#: Which kind of reviewer each route needs.
KIND_FOR_ROUTE = {
    "in_house_queue": "in_house",
    "network_referral": "network",
    "further_consultation": "consultant",
}


@dataclass(frozen=True)
class Reviewer:
    reviewer_id: str
    name: str
    kind: str
    specialties: tuple[str, ...]
    organisation: str
    gmc_number: str | None = None


class ReviewerDirectory(Aggregate):
    def __init__(self, aggregate_id: UUID = DIRECTORY_ID):
        super().__init__(aggregate_id)
        self.reviewers: dict[str, Reviewer] = {}

    def register(self, reviewer: Reviewer, ctx: Context) -> None:
        if self.reviewers.get(reviewer.reviewer_id) == reviewer:
            return
        self.record(ReviewerRegistered, ctx, **reviewer.__dict__)

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, ReviewerRegistered):
            self.reviewers[event.reviewer_id] = Reviewer(
                event.reviewer_id, event.name, event.kind, event.specialties,
                event.organisation, event.gmc_number,
            )

    def match(self, route: str, specialty: str, case_id: UUID, excluded: set[str]) -> Reviewer | None:
        """A reviewer of the route's kind who covers the specialty and has not declined
        or declared a conflict on this case. Ties are spread by case, not always the first."""
        kind = KIND_FOR_ROUTE[route]
        wanted = specialty.strip().casefold()
        candidates = sorted(
            (r for r in self.reviewers.values()
             if r.kind == kind and r.reviewer_id not in excluded
             and wanted in (s.casefold() for s in r.specialties)),
            key=lambda r: r.reviewer_id,
        )
        if not candidates:
            return None
        spread = int(hashlib.sha256(case_id.bytes).hexdigest(), 16)
        return candidates[spread % len(candidates)]

    def network_for(self, specialty: str, case_id: UUID) -> str:
        """The expert network that takes a specialty; one default network otherwise."""
        found = self.match("network_referral", specialty, case_id, set())
        return found.organisation if found else DEFAULT_NETWORK


DEFAULT_NETWORK = "expert_network"
