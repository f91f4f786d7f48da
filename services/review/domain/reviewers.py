"""The reviewer directory: who may review what, matched on specialty and route, and the
registered reviewer partners (third-party expert networks reached over their own topics)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from uuid import NAMESPACE_URL, UUID, uuid5

from events.envelope import DomainEvent
from events.review import PartnerRegistered, PartnerRemoved, ReviewerRegistered
from services.common.aggregate import Aggregate
from services.common.context import Context
from services.common.errors import Refused

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
        #: Registered partners and the specialties each takes, by partner name.
        self.partners: dict[str, tuple[str, ...]] = {}

    def register(self, reviewer: Reviewer, ctx: Context) -> None:
        if self.reviewers.get(reviewer.reviewer_id) == reviewer:
            return
        self.record(ReviewerRegistered, ctx, **reviewer.__dict__)

    def register_partner(self, name: str, specialties: tuple[str, ...], ctx: Context) -> bool:
        """Register a partner, or change its specialties; False when nothing changed."""
        wanted = tuple(dict.fromkeys(s.strip() for s in specialties if s.strip()))
        if not wanted:
            raise Refused("no_specialties", "a partner takes at least one specialty")
        if self.partners.get(name) == wanted:
            return False
        self.record(PartnerRegistered, ctx, name=name, specialties=wanted)
        return True

    def remove_partner(self, name: str, reason: str, ctx: Context) -> None:
        if name not in self.partners:
            raise Refused("unknown_partner", f"no partner named {name!r} is registered")
        self.record(PartnerRemoved, ctx, name=name, reason=reason)

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, ReviewerRegistered):
            self.reviewers[event.reviewer_id] = Reviewer(
                event.reviewer_id, event.name, event.kind, event.specialties,
                event.organisation, event.gmc_number,
            )
        elif isinstance(event, PartnerRegistered):
            self.partners[event.name] = event.specialties
        elif isinstance(event, PartnerRemoved):
            self.partners.pop(event.name, None)

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
        return candidates[spread(case_id) % len(candidates)]

    def partner_for(self, specialty: str, case_id: UUID, excluded: set[str] | frozenset[str] = frozenset()) -> str | None:
        """A registered partner covering the specialty, not excluded (it missed its
        deadline on this case, or was removed); ties are spread by case, like `match`."""
        wanted = specialty.strip().casefold()
        candidates = sorted(name for name, specialties in self.partners.items()
                            if name not in excluded and wanted in (s.casefold() for s in specialties))
        if not candidates:
            return None
        return candidates[spread(case_id) % len(candidates)]

    def network_for(self, specialty: str, case_id: UUID, excluded: set[str] | frozenset[str] = frozenset()) -> str:
        """The expert network that takes a specialty: a registered partner first; else the
        network reviewer's organisation in the directory; else one default network (those
        two answer by other means: their opinion is keyed in with `cases opinion submit`)."""
        partner = self.partner_for(specialty, case_id, excluded)
        if partner is not None:
            return partner
        found = self.match("network_referral", specialty, case_id, set())
        return found.organisation if found else DEFAULT_NETWORK

    def is_partner(self, name: str) -> bool:
        return name in self.partners


def spread(case_id: UUID) -> int:
    """A number fixed by the case: ties between candidates go round by case."""
    return int(hashlib.sha256(case_id.bytes).hexdigest(), 16)


DEFAULT_NETWORK = "expert_network"
