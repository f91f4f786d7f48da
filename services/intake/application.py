"""Intake: the policy register, validated case requests, and eligibility decisions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from uuid import UUID, uuid4

from events.envelope import DomainEvent
from events.intake import (
    CaseOpened,
    Condition,
    DeidentifiedText,
    Diagnosis,
    EligibilityConfirmed,
    EligibilityDeclined,
    GeneralPractitioner,
    MemberIdentified,
    MemberIdentity,
    MemberProfile,
    PolicyTerms,
)
from events.reporting import (
    CaseClosed,
    DeadLetterResolved,
    DeadLetterRetried,
    ReportDelivered,
    ReportPrepared,
)
from services.common import pseudonyms
from services.common.context import Clock, Context
from services.common.deidentify import KnownIdentifiers, deidentify
from services.common.errors import Refused, UnknownCase
from services.intake.domain.case import Case
from services.intake.domain.eligibility import RULES, ConditionFacts, decide
from services.intake.domain.identifiers import age_band, outward_code
from services.intake.domain.policy import Policy, policy_id
from services.intake.request_file import CaseRequest
from services.runtime.application import Reaction, ServiceApplication
from services.runtime.keystore import MemberKeys as Vault


@dataclass(frozen=True)
class Opened:
    case_id: UUID
    status: Literal["accepted", "declined"]
    reasons: tuple[str, ...]
    model: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "case_id": str(self.case_id),
            "status": self.status,
            "reasons": list(self.reasons),
            "model": self.model,
        }


class Intake(ServiceApplication):
    name = "intake"
    def __init__(self, env: dict[str, str], clock: Clock | None = None, *, member_key: bytes | None,
                 vault: Vault | None):
        super().__init__(env, clock)
        self.member_key = member_key  # turns an NHS number into a member reference; None: reads only
        self.vault = vault  # seals identifiers and free text under the member's own key

    def load_policies(self, policies: list[PolicyTerms], ctx: Context) -> int:
        load_id = uuid4()
        changed = [
            Policy.load_terms(self.load(Policy, policy_id(terms.number)), terms, load_id, ctx)
            for terms in policies
        ]
        self.save(*changed)
        return len(changed)

    def policy_terms(self, number: str) -> tuple[PolicyTerms, int] | None:
        policy = self.load(Policy, policy_id(number))
        return (policy.terms, policy.version) if policy else None

    def open_case(self, request: CaseRequest, ctx: Context, case_id: UUID | None = None) -> Opened:
        """`case_id` is for reproducible simulations; a real request gets a fresh one."""
        case = Case(case_id or uuid4())
        member_ref = self.member_ref(request.member.nhs_number)
        if self.vault is None:
            raise RuntimeError("intake was built to read only: it has no key store")
        self.vault.bind(case.id, member_ref)

        def seal(value: Any) -> Any:
            return None if value is None else self.vault.seal(member_ref, str(value))  # type: ignore[union-attr]

        case.record(CaseOpened, ctx, case_id=case.id, **opened_fields(request, member_ref, seal))
        identity = request.member.model_dump(exclude={"nation"})
        case.record(
            MemberIdentified,
            ctx,
            case_id=case.id,
            member_ref=member_ref,
            identity=MemberIdentity(**{k: seal(v) for k, v in identity.items()}),
            gp=GeneralPractitioner(**{k: seal(v) for k, v in request.gp.model_dump().items()})
            if request.gp else None,
        )
        found = self.policy_terms(request.policy_number)
        terms, policy_version = found if found else (None, None)
        decision = decide(terms, request.requested_on, condition_facts(request))
        if decision.accepted:
            assert terms is not None and terms.second_opinion.model is not None
            case.record(
                EligibilityConfirmed,
                ctx,
                case_id=case.id,
                rule_version=decision.rule_version,
                policy_number=terms.number,
                policy_version=policy_version,
                insurer=terms.insurer,
                product=terms.product,
                model=terms.second_opinion.model,
                sla_working_days=terms.second_opinion.sla_working_days,
                rules_checked=RULES,
            )
        else:
            case.record(
                EligibilityDeclined,
                ctx,
                case_id=case.id,
                rule_version=decision.rule_version,
                policy_number=request.policy_number,
                policy_version=policy_version,
                insurer=terms.insurer if terms else None,
                product=terms.product if terms else None,
                reasons=decision.reasons,
            )
        self.save(case)
        model = terms.second_opinion.model if decision.accepted and terms else None
        status: Literal["accepted", "declined"] = "accepted" if decision.accepted else "declined"
        return Opened(case.id, status, decision.reasons, model)

    def cancel_case(self, case_id: UUID, reason: str, by: Literal["member", "insurer"], ctx: Context) -> None:
        case = self.get_case(case_id)
        case.cancel(reason, by, ctx)
        self.save(case)

    def record_reveal(self, case_id: UUID, fields: tuple[str, ...], purpose: str, ctx: Context) -> None:
        case = self.get_case(case_id)
        case.record_reveal(fields, purpose, ctx)
        self.save(case)

    def erase_member(self, case_ids: list[UUID], reason: str, ctx: Context) -> None:
        """The erasure recorded on every case of the member, in one transaction."""
        cases = [self.get_case(case_id) for case_id in case_ids]
        for case in cases:
            case.erase_member(reason, ctx)
        self.save(*cases)

    def forget_member(self, member_ref: UUID) -> None:
        """Destroy the member's key (after `erase_member`): every value sealed under it, in
        any store or topic, is unreadable from now on. Intake holds the key store."""
        if self.vault is None:
            raise RuntimeError("intake was built without the members' key store")
        self.vault.destroy(str(member_ref))

    def get_case(self, case_id: UUID) -> Case:
        case = self.load(Case, case_id)
        if case is None:
            raise UnknownCase(case_id)
        return case

    def member_ref(self, nhs_number: str) -> UUID:
        """Same member, same reference, across cases; unguessable without the key."""
        if self.member_key is None:
            raise RuntimeError("intake was built to read only: it has no member key")
        return pseudonyms.member_ref(self.member_key, nhs_number)

    def on_report_delivered(self, event: ReportDelivered, ctx: Context) -> Case | None:
        case = self.load(Case, event.case_id)
        if case is not None:
            case.conclude(event.event_id, ctx)
        return case

    reactions: ClassVar[dict[type[DomainEvent], Reaction]] = {ReportDelivered: on_report_delivered}
    #: Reporting's events intake does not act on: only the report going out concludes a case
    #: (how people handled dead letters is the operators' record, not a case's).
    ignores: ClassVar[frozenset[type[DomainEvent]]] = frozenset(
        {ReportPrepared, CaseClosed, DeadLetterRetried, DeadLetterResolved})


def opened_fields(request: CaseRequest, member_ref: UUID, seal: Callable[[Any], Any]) -> dict[str, Any]:
    """CaseOpened's fields: what downstream needs, the free text sealed (`seal`)."""
    member, condition = request.member, request.condition
    return {
        "policy_number": request.policy_number,
        "requested_on": request.requested_on,
        "member_ref": member_ref,
        "member": MemberProfile(
            age_band=age_band(member.date_of_birth, request.requested_on),
            outward_code=outward_code(member.postcode),
            nation=member.nation,
        ),
        "condition": Condition(
            name=condition.name,
            icd10=condition.icd10,
            specialty=condition.specialty,
            nature=condition.nature,
            diagnosed_on=condition.diagnosed_on,
            history=tuple(condition.history),
        ),
        "diagnosis": Diagnosis(**{k: seal(v) for k, v in request.diagnosis.model_dump().items()})
        if request.diagnosis else None,
        "proposed_treatment": seal(request.proposed_treatment),
        "has_gp": request.gp is not None and any(request.gp.model_dump().values()),
        "deidentified": deidentified_text(request, seal),
    }


def deidentified_text(request: CaseRequest, seal: Callable[[Any], Any]) -> DeidentifiedText:
    """The free text a reviewer partner may read: every identifier given with the request
    removed here, where they are known, then sealed like the rest (records never holds them)."""
    member, gp = request.member, request.gp
    known = KnownIdentifiers(
        name=member.name, nhs_number=member.nhs_number, date_of_birth=member.date_of_birth,
        postcode=member.postcode, email=member.email, phone=member.phone,
        gp_name=gp.name if gp else None, gp_practice=gp.practice if gp else None,
        gp_email=gp.email if gp else None,
    )
    summary = request.diagnosis.summary if request.diagnosis else None
    return DeidentifiedText(
        diagnosis_summary=seal(deidentify(summary, known) if summary else None),
        proposed_treatment=seal(deidentify(request.proposed_treatment, known)),
    )


def condition_facts(request: CaseRequest) -> ConditionFacts:
    c = request.condition
    return ConditionFacts(c.name, c.icd10, c.nature, c.diagnosed_on, tuple(c.history))


__all__ = ["Intake", "Opened", "Refused"]
