"""The records file of a case: consents per scope, records collected, the review pack.

Rules:
- nothing is requested or collected without records_access in force;
- a third_party review needs third_party_disclosure in force before the pack is built;
- withdrawing a consent stops what it allowed: collection is suspended, a released pack
  is recalled, and review learns of it from the withdrawal event.
"""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID, uuid4

from events.envelope import DomainEvent
from events.records import (
    CaseFileClosed,
    CaseFileOpened,
    CaseReadyForReview,
    ClinicalFacts,
    CollectionResumed,
    CollectionSuspended,
    ConsentGranted,
    ConsentRequested,
    ConsentWithdrawn,
    RecordReceived,
    RecordsCompleted,
    RecordsRequested,
    RecordsUnobtainable,
    ReviewConsentWithdrawn,
    ReviewPackPrepared,
    ReviewPackRecalled,
)
from services.common.aggregate import Aggregate
from services.common.context import Context, london_date
from services.common.errors import Refused
from services.records.domain.pseudonymise import RULESET_VERSION, pseudonymise_review_pack

Stage = Literal["awaiting_eligibility", "awaiting_consent", "collecting", "complete", "closed", "concluded"]


class CaseFile(Aggregate):
    stage: Stage = "awaiting_eligibility"
    facts: ClinicalFacts
    model: str | None = None
    sla_working_days: int = 10
    suspended_for: str | None = None
    ready: bool = False
    #: Once true, never false again: a withdrawal then suspends the review, not collection.
    handed_to_review: bool = False
    pack_id: UUID | None = None

    def __init__(self, aggregate_id: UUID):
        super().__init__(aggregate_id)
        self.consents: dict[str, UUID] = {}
        self.received: list[tuple[str, str, date]] = []
        self.requested: dict[str, str] = {}
        self.unobtainable: list[str] = []

    @property
    def case_id(self) -> UUID:
        return self.id

    # -- reactions to intake -------------------------------------------------------------

    @classmethod
    def open(cls, case_id: UUID, facts: ClinicalFacts, ctx: Context) -> CaseFile:
        file = cls(case_id)
        file.record(CaseFileOpened, ctx, case_id=case_id, facts=facts)
        return file

    def request_consent(self, model: str, sla_working_days: int, ctx: Context) -> None:
        if self.stage == "awaiting_eligibility":
            self.record(ConsentRequested, ctx, case_id=self.id, model=model, sla_working_days=sla_working_days)

    def close(self, reason: Literal["declined", "cancelled"], ctx: Context) -> None:
        if self.stage == "closed":
            return
        if self.pack_id is not None:
            self.record(ReviewPackRecalled, ctx, case_id=self.id, pack_id=self.pack_id,
                        reason=f"case_{reason}", withdrawal_event_id=ctx.causation_id)
        self.record(CaseFileClosed, ctx, case_id=self.id, reason=reason)

    def conclude(self, ctx: Context) -> None:
        """The report went out: no more collection, and no pack is released again, whatever
        consents change afterwards."""
        if self.stage not in ("closed", "concluded"):
            self.record(CaseFileClosed, ctx, case_id=self.id, reason="concluded")

    # -- consent --------------------------------------------------------------------------

    def grant(self, scope: str, channel: str, ctx: Context) -> None:
        self.check_accepting_commands()
        if scope in self.consents:
            return  # already in force: granting again changes nothing
        self.record(ConsentGranted, ctx, case_id=self.id, scope=scope, channel=channel)
        if scope == "records_access" and self.suspended_for == "consent_withdrawn":
            self.record(CollectionResumed, ctx, case_id=self.id, reason="records_access granted again")
        self.release_for_review_when_ready(ctx)

    def withdraw(self, scope: str, channel: str, ctx: Context) -> None:
        self.check_accepting_commands()
        grant = self.consents.get(scope)
        if grant is None:
            raise Refused("consent_not_in_force", f"{scope} is not in force, so it cannot be withdrawn")
        was_ready = self.ready
        withdrawal = self.record(ConsentWithdrawn, ctx, case_id=self.id, scope=scope,
                                 channel=channel, grant_event_id=grant)
        stops_review = scope == "records_access" or (
            scope == "third_party_disclosure" and self.model == "third_party"
        )
        if not stops_review:
            return
        if was_ready:
            self.record(ReviewConsentWithdrawn, ctx, case_id=self.id, scope=scope,
                        withdrawal_event_id=withdrawal.event_id)
        if self.pack_id is not None:
            self.record(ReviewPackRecalled, ctx, case_id=self.id, pack_id=self.pack_id,
                        reason=f"{scope} withdrawn", withdrawal_event_id=withdrawal.event_id)
        if scope == "records_access" and not self.handed_to_review and self.stage in ("collecting", "complete"):
            # Before review: the case waits here. In review, review suspends itself.
            self.record(CollectionSuspended, ctx, case_id=self.id, reason="consent_withdrawn")

    # -- collection -----------------------------------------------------------------------

    def request_records(self, kind: str, source: str, ctx: Context) -> None:
        consent = self.check_may_collect()
        self.record(RecordsRequested, ctx, case_id=self.id, kind=kind, source=source, consent_event_id=consent)

    def receive(self, kind: str, source: str, ctx: Context) -> None:
        consent = self.check_may_collect()
        if self.suspended_for == "records_unobtainable":
            self.record(CollectionResumed, ctx, case_id=self.id, reason="a record arrived")
        self.record(RecordReceived, ctx, case_id=self.id, record_id=uuid4(), kind=kind,
                    source=source, consent_event_id=consent)

    def mark_unobtainable(self, source: str, reason: str, ctx: Context) -> None:
        self.check_may_collect()
        self.record(RecordsUnobtainable, ctx, case_id=self.id, source=source, reason=reason)
        if not self.received and not self.requested:
            self.record(CollectionSuspended, ctx, case_id=self.id, reason="records_unobtainable")

    def complete(self, ctx: Context) -> None:
        self.check_may_collect()
        if not self.received:
            raise Refused("no_records_received", "no record has been received; nothing to review")
        self.record(RecordsCompleted, ctx, case_id=self.id, records_received=len(self.received),
                    unobtainable_sources=tuple(self.unobtainable))
        self.release_for_review_when_ready(ctx)

    def release_for_review_when_ready(self, ctx: Context) -> None:
        """Hand the case to review once records are complete and consents allow it."""
        if self.stage != "complete" or self.ready or "records_access" not in self.consents:
            return
        disclosure = self.consents.get("third_party_disclosure")
        pack_id = None
        if self.model == "third_party":
            if disclosure is None:
                return  # waits for the member's disclosure consent
            pack_id = uuid4()
            pack = pseudonymise_review_pack(self.pack_pseudonym, self.facts,
                                            [(k, d) for k, _, d in self.received])
            self.record(ReviewPackPrepared, ctx, case_id=self.id, pack_id=pack_id, pack=pack,
                        ruleset_version=RULESET_VERSION, consent_event_id=disclosure)
        self.record(
            CaseReadyForReview, ctx, case_id=self.id, model=self.model, specialty=self.facts.specialty,
            nation=self.facts.nation, sla_working_days=self.sla_working_days, ready_on=ctx.today,
            pack_id=pack_id, consent_event_id=disclosure if self.model == "third_party" else None,
        )

    #: The case's keyed pseudonym for a review pack: records sets it when it loads the file
    #: (services/common/pseudonyms.py); the aggregate never holds a key.
    pack_pseudonym: str = ""

    # -- checks ---------------------------------------------------------------------------

    def check_accepting_commands(self) -> None:
        if self.stage == "closed":
            raise Refused("case_closed", "the case is closed (declined or cancelled)")
        if self.stage == "awaiting_eligibility":
            raise Refused("not_eligible", "the case has not been accepted at eligibility")

    def check_may_collect(self) -> UUID:
        self.check_accepting_commands()
        consent = self.consents.get("records_access")
        if consent is None:
            raise Refused("consent_required", "records_access consent is not in force")
        if self.stage == "complete":
            raise Refused("records_complete", "records were already marked complete")
        if self.stage == "concluded":
            raise Refused("case_concluded", "the report went out: records are no longer collected")
        return consent

    # -- state ----------------------------------------------------------------------------

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, CaseFileOpened):
            self.facts = event.facts
        elif isinstance(event, ConsentRequested):
            self.stage, self.model, self.sla_working_days = "awaiting_consent", event.model, event.sla_working_days
        elif isinstance(event, CaseFileClosed):
            self.stage = "concluded" if event.reason == "concluded" else "closed"
            self.ready = False
        elif isinstance(event, ConsentGranted):
            self.consents[event.scope] = event.event_id
            if event.scope == "records_access" and self.stage == "awaiting_consent":
                self.stage = "collecting"
        elif isinstance(event, ConsentWithdrawn):
            self.consents.pop(event.scope, None)
            if event.scope == "records_access" or (
                event.scope == "third_party_disclosure" and self.model == "third_party"
            ):
                self.ready = False
        elif isinstance(event, RecordsRequested):
            self.requested[event.source] = event.kind
        elif isinstance(event, RecordReceived):
            self.requested.pop(event.source, None)
            self.received.append((event.kind, event.source, london_date(event.occurred_at)))
        elif isinstance(event, RecordsUnobtainable):
            self.requested.pop(event.source, None)
            self.unobtainable.append(event.source)
        elif isinstance(event, CollectionSuspended):
            self.suspended_for = event.reason
        elif isinstance(event, CollectionResumed):
            self.suspended_for = None
        elif isinstance(event, RecordsCompleted):
            self.stage = "complete"
        elif isinstance(event, ReviewPackPrepared):
            self.pack_id = event.pack_id
        elif isinstance(event, ReviewPackRecalled):
            self.pack_id = None
        elif isinstance(event, CaseReadyForReview):
            self.ready = self.handed_to_review = True
