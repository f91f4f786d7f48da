"""The demo's expert network, in process: a reviewer partner without Kafka.

It reads what review sends partners (`partner_outbox`: the very messages the Kafka gateway
publishes on the partner's requests topic), keeps the packs it is sent, acknowledges each
recall, and answers through review's gateway logic (`receive_partner_message`), exactly as
an opinion from the partner's opinions topic would be handled. Only the demo's script knows
which case a pack belongs to (it plays the insurer's desk too).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from typing import Any
from uuid import UUID, uuid4

from services.review.domain.review import CaseReview
from services.simulation.catalogue import SPECIALTIES

NAME = "medexpert"


class SimulatedNetwork:
    def __init__(self, sim: Any):
        self.sim = sim
        self.position = 0
        self.packs: set[UUID] = set()
        self.to_acknowledge: list[UUID] = []
        self.told: Counter[str] = Counter()  # what the partner was sent, by message type

    def register(self) -> None:
        self.sim.do(self.sim.rt.review.register_partner, NAME, list(SPECIALTIES), actor="user:demo")

    @property
    def review(self) -> Any:
        return self.sim.rt.review

    def read(self) -> None:
        """Take every new message review sent this partner."""
        while True:
            self.position, messages = self.review.partner_outbox(self.position, 1000)
            if not messages:
                return
            for partner, message in messages:
                if partner != NAME:
                    continue
                self.told[message.type] += 1
                if message.type == "review_requested":
                    self.packs.add(message.pack_id)
                elif message.type == "review_recalled":
                    self.packs.discard(message.pack_id)
                    self.to_acknowledge.append(message.pack_id)

    def acknowledge_recalls(self) -> None:
        """Destroy each recalled pack and say so."""
        self.read()
        pending, self.to_acknowledge = self.to_acknowledge, []
        for pack_id in pending:
            self.send({"type": "recall_acknowledged", "pack_id": str(pack_id),
                       "acknowledged_at": self.sim.rt.clock.now().isoformat()})

    def deadline(self, case_id: UUID) -> date | None:
        """The partner's deadline when the case's referral is with this partner, still open."""
        referral = (self.sim.state(case_id).get("review") or {}).get("referral") or {}
        if referral.get("partner") != NAME or referral.get("state") != "sent" or not referral.get("respond_by"):
            return None
        return date.fromisoformat(referral["respond_by"])

    def answer(self, case_id: UUID, outcome: str, summary: str) -> None:
        """The partner's expert answers on the pack it holds for this case (the desk looks
        up which pack that is; the partner never sees the case id)."""
        self.read()
        review = self.review.load(CaseReview, case_id)
        sent_here = [pack for partner, pack in (review.referrals if review is not None else {}) if partner == NAME]
        if not sent_here:
            return
        pack_id = sent_here[-1]  # the latest pack this partner was sent for the case
        self.send({"type": "opinion_given", "pack_id": str(pack_id), "outcome": outcome, "summary": summary,
                   "reviewer": "Dr Network Expert", "given_at": self.sim.rt.clock.now().isoformat()})

    def send(self, message: dict[str, Any]) -> None:
        raw = json.dumps({"schema_version": 1, "message_id": str(uuid4()), **message}).encode()
        self.sim.do(self.review.receive_partner_message, NAME, raw, actor=f"partner:{NAME}")
        self.read()
