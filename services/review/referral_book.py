"""Review's book of referrals to networks, read from its own notification log.

Which case each pack belongs to (the re-identification a partner's answer needs), the
referrals still open with their deadlines, and the recalls still to be acknowledged. Kept
up to date incrementally: the log only grows, so each read folds only what is new.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from uuid import UUID

import orjson

from events.envelope import DomainEvent
from events.review import (
    NetworkReferralSent,
    NetworkReferralWithdrawn,
    OpinionSubmitted,
    PartnerOpinionReceived,
    PartnerRecallAcknowledged,
    RecallOverdue,
)

BOOK_TYPES = [e.type_name for e in (NetworkReferralSent, NetworkReferralWithdrawn, PartnerOpinionReceived,
                                    OpinionSubmitted, PartnerRecallAcknowledged, RecallOverdue)]


@dataclass(frozen=True)
class OpenReferral:
    case_id: UUID
    partner: str
    pack_id: UUID
    sent_at: datetime
    respond_by: date | None


@dataclass
class ReferralBook:
    position: int = 0
    #: pack id -> case id: every pack ever referred.
    owner: dict[UUID, UUID] = field(default_factory=dict)
    open: dict[tuple[str, UUID], OpenReferral] = field(default_factory=dict)
    #: (partner, pack id) -> (case id, acknowledge_by) of recalls not yet acknowledged.
    recalls: dict[tuple[str, UUID], tuple[UUID, datetime]] = field(default_factory=dict)

    def fold(self, events: Iterable[DomainEvent]) -> None:
        for event in events:
            if isinstance(event, NetworkReferralSent):
                self.owner[event.pack_id] = event.case_id
                self.open[(event.partner, event.pack_id)] = OpenReferral(
                    event.case_id, event.partner, event.pack_id, event.occurred_at, event.respond_by)
            elif isinstance(event, NetworkReferralWithdrawn):
                self.open.pop((event.partner, event.pack_id), None)
                if event.acknowledge_by is not None:
                    self.recalls[(event.partner, event.pack_id)] = (event.case_id, event.acknowledge_by)
            elif isinstance(event, PartnerOpinionReceived):
                self.open.pop((event.partner, event.pack_id), None)
            elif isinstance(event, OpinionSubmitted):
                # An opinion keyed in by other means ends the case's referrals' deadlines too.
                for key in [k for k, r in self.open.items() if r.case_id == event.case_id]:
                    del self.open[key]
            elif isinstance(event, PartnerRecallAcknowledged | RecallOverdue):
                self.recalls.pop((event.partner, event.pack_id), None)

    def dump(self) -> bytes:
        """The book's state (not its position), for a snapshot (book_snapshots.py)."""
        return orjson.dumps({
            "owner": [[str(pack), str(case)] for pack, case in self.owner.items()],
            "open": [[r.partner, str(r.pack_id), str(r.case_id), r.sent_at.isoformat(),
                      r.respond_by.isoformat() if r.respond_by else None] for r in self.open.values()],
            "recalls": [[partner, str(pack), str(case), by.isoformat()]
                        for (partner, pack), (case, by) in self.recalls.items()]})

    @classmethod
    def load(cls, position: int, state: bytes) -> ReferralBook:
        data = orjson.loads(state)
        book = cls(position, {UUID(pack): UUID(case) for pack, case in data["owner"]})
        for partner, pack, case, sent_at, respond_by in data["open"]:
            book.open[(partner, UUID(pack))] = OpenReferral(
                UUID(case), partner, UUID(pack), datetime.fromisoformat(sent_at),
                date.fromisoformat(respond_by) if respond_by else None)
        for partner, pack, case, by in data["recalls"]:
            book.recalls[(partner, UUID(pack))] = (UUID(case), datetime.fromisoformat(by))
        return book

    def open_to(self, partner: str) -> list[OpenReferral]:
        return sorted((r for r in self.open.values() if r.partner == partner), key=lambda r: r.sent_at)

    def late(self, today: date) -> set[UUID]:
        """Cases whose open referral is past its partner's deadline."""
        return {r.case_id for r in self.open.values() if r.respond_by is not None and today > r.respond_by}

    def unacknowledged(self, now: datetime) -> set[UUID]:
        """Cases with a recall past its acknowledgement deadline."""
        return {case_id for case_id, by in self.recalls.values() if now > by}
