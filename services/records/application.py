"""Records: consent per scope, medical records collection, the pseudonymised review pack."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar
from uuid import UUID

from events.envelope import DomainEvent
from events.intake import (
    CaseCancelled,
    CaseConcluded,
    CaseOpened,
    EligibilityConfirmed,
    EligibilityDeclined,
    IdentityRevealed,
    MemberErased,
    MemberIdentified,
    PolicyTermsRecorded,
)
from events.records import ClinicalFacts
from services.common import pseudonyms
from services.common.context import Clock, Context
from services.common.errors import Refused
from services.records.domain.case_file import CaseFile
from services.runtime.application import Reaction, ServiceApplication


class Records(ServiceApplication):
    name = "records"
    def __init__(self, env: dict[str, str], clock: Clock | None = None, *, pack_key: bytes | None):
        super().__init__(env, clock)
        self.pack_key = pack_key  # turns a case id into the pack's pseudonym; None: reads only

    # -- commands -------------------------------------------------------------------------

    def grant_consent(self, case_id: UUID, scope: str, channel: str, ctx: Context) -> None:
        self._change(case_id, lambda f: f.grant(scope, channel, ctx))

    def withdraw_consent(self, case_id: UUID, scope: str, channel: str, ctx: Context) -> None:
        self._change(case_id, lambda f: f.withdraw(scope, channel, ctx))

    def request_records(self, case_id: UUID, kind: str, source: str, ctx: Context) -> None:
        self._change(case_id, lambda f: f.request_records(kind, source, ctx))

    def add_record(self, case_id: UUID, kind: str, source: str, ctx: Context) -> None:
        self._change(case_id, lambda f: f.receive(kind, source, ctx))

    def mark_unobtainable(self, case_id: UUID, source: str, reason: str, ctx: Context) -> None:
        self._change(case_id, lambda f: f.mark_unobtainable(source, reason, ctx))

    def complete_records(self, case_id: UUID, ctx: Context) -> None:
        self._change(case_id, lambda f: f.complete(ctx))

    def _change(self, case_id: UUID, command: Callable[[CaseFile], None]) -> None:
        file = self.case_file(case_id)
        command(file)
        self.save(file)

    def case_file(self, case_id: UUID) -> CaseFile:
        file = self.load(CaseFile, case_id)
        if file is None:
            raise Refused("no_case_file", "records holds no file for this case")
        if self.pack_key is None:
            raise RuntimeError("records was built to read only: it has no pack key")
        file.pack_pseudonym = pseudonyms.case_pseudonym(self.pack_key, case_id)
        return file

    # -- reactions ------------------------------------------------------------------------

    def on_case_opened(self, event: CaseOpened, ctx: Context) -> CaseFile | None:
        if self.load(CaseFile, event.case_id) is not None:
            return None
        facts = ClinicalFacts(
            age_band=event.member.age_band,
            outward_code=event.member.outward_code,
            nation=event.member.nation,
            condition=event.condition.name,
            icd10=event.condition.icd10,
            specialty=event.condition.specialty,
            nature=event.condition.nature,
            diagnosed_on=event.condition.diagnosed_on,
            # Only the text intake de-identified: the request's own words (event.diagnosis,
            # event.proposed_treatment) may name the member and never reach a pack.
            diagnosis_summary=event.deidentified.diagnosis_summary if event.deidentified else None,
            proposed_treatment=event.deidentified.proposed_treatment if event.deidentified else None,
        )
        return CaseFile.open(event.case_id, facts, ctx)

    def on_eligibility_confirmed(self, event: EligibilityConfirmed, ctx: Context) -> CaseFile:
        file = self.case_file(event.case_id)
        file.request_consent(event.model, event.sla_working_days, ctx)
        return file

    def on_eligibility_declined(self, event: EligibilityDeclined, ctx: Context) -> CaseFile:
        file = self.case_file(event.case_id)
        file.close("declined", ctx)
        return file

    def on_case_cancelled(self, event: CaseCancelled, ctx: Context) -> CaseFile | None:
        file = self.load(CaseFile, event.case_id)
        if file is not None:
            file.close("cancelled", ctx)
        return file

    def on_case_concluded(self, event: CaseConcluded, ctx: Context) -> CaseFile | None:
        file = self.load(CaseFile, event.case_id)
        if file is not None:
            file.conclude(ctx)
        return file

    reactions: ClassVar[dict[type[DomainEvent], Reaction]] = {
        CaseOpened: on_case_opened,
        EligibilityConfirmed: on_eligibility_confirmed,
        EligibilityDeclined: on_eligibility_declined,
        CaseCancelled: on_case_cancelled,
        CaseConcluded: on_case_concluded,
    }
    #: Intake's events records does not act on. Above all `member_identified`: records never
    #: receives a direct identifier (the pull filters it out by type).
    ignores: ClassVar[frozenset[type[DomainEvent]]] = frozenset(
        {PolicyTermsRecorded, MemberIdentified, IdentityRevealed, MemberErased})
