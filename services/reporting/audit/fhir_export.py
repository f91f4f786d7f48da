"""The replay as a FHIR R5 Bundle an auditor can keep: a Consent per grant, an AuditEvent
per event, built with fhir.resources and validated by a JSON round trip.

Nothing here names the member: the Consent's subject and the AuditEvents' patient are the
case's pseudonymous member_ref, and no event payload is copied into the bundle.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from fhir.resources.auditevent import (
    AuditEvent,
    AuditEventAgent,
    AuditEventEntity,
    AuditEventEntityDetail,
    AuditEventOutcome,
    AuditEventSource,
)
from fhir.resources.bundle import Bundle, BundleEntry
from fhir.resources.codeableconcept import CodeableConcept
from fhir.resources.coding import Coding
from fhir.resources.consent import Consent, ConsentProvision
from fhir.resources.identifier import Identifier
from fhir.resources.meta import Meta
from fhir.resources.period import Period
from fhir.resources.reference import Reference

from events.envelope import DomainEvent
from services.common.context import LONDON
from services.reporting.audit.findings import audit_findings
from services.reporting.projections.case_state import causal_order

#: The project's own code systems and identifier namespaces (a deployment may rebase them).
BASE = "https://second-opinion-cases.example/fhir"
EVENT_TYPE_SYSTEM = f"{BASE}/CodeSystem/case-event-type"
SERVICE_SYSTEM = f"{BASE}/CodeSystem/case-service"
SCOPE_SYSTEM = f"{BASE}/CodeSystem/consent-scope"
DISCLOSURE_SYSTEM = f"{BASE}/CodeSystem/disclosure-kind"
DETAIL_SYSTEM = f"{BASE}/CodeSystem/audit-detail"
CASE_ID_SYSTEM = f"{BASE}/NamingSystem/case-id"
MEMBER_REF_SYSTEM = f"{BASE}/NamingSystem/member-ref"
EVENT_ID_SYSTEM = f"{BASE}/NamingSystem/event-id"
URI = "urn:ietf:rfc:3986"
#: Standard terminologies.
DCM = "http://dicom.nema.org/resources/ontology/DCM"
OUTCOME_SYSTEM = "http://terminology.hl7.org/CodeSystem/audit-event-outcome"
CONSENT_ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
SECURITY = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"

#: Consent ids are derived from the grant's event id, so an AuditEvent (whose id is its
#: event's id) and the Consent a grant created never share a fullUrl.
CONSENT_NAMESPACE = UUID("6f1d3c1e-2b7a-4c55-9a43-5f1c3b0e9d21")

SCOPE_ACTIONS = {
    "records_access": ("collect", "access"),
    "third_party_disclosure": ("disclose",),
    "share_with_gp": ("disclose",),
}
SCOPE_TEXT = {
    "records_access": "collect the member's medical records",
    "third_party_disclosure": "send the pseudonymised review pack outside the insurer",
    "share_with_gp": "send the report to the GP or original specialist",
}
DICOM_EVENT = {  # the DICOM audit event id for the kinds of access the findings pair with consent
    "records_access": ("110107", "Import"),
    "partner_disclosure": ("110106", "Export"),
    "report_share": ("110106", "Export"),
}


def consent_id(grant_event_id: str | UUID) -> str:
    return str(uuid5(CONSENT_NAMESPACE, str(grant_event_id)))


def fhir_bundle(events: Iterable[DomainEvent], *, generated_at: datetime | None = None,
                audit: dict[str, Any] | None = None) -> Bundle:
    """A `collection` Bundle: one Consent per grant, one AuditEvent per event, in causal order.

    `audit` is `audit_findings(events)` where the caller already has it."""
    ordered = sorted(events, key=causal_order)
    audit = audit if audit is not None else audit_findings(ordered)
    opened = next((e for e in ordered if e.type_name == "case_opened"), None)
    member_ref = str(opened.member_ref) if opened is not None else None  # type: ignore[attr-defined]
    case_id = str(getattr(ordered[0], "case_id", "")) if ordered else None
    cancelled = next((e.occurred_at for e in ordered if e.type_name == "case_cancelled"), None)
    consents = [_consent(c, member_ref, cancelled) for c in audit["consent_changes"] if c["action"] == "granted"]
    in_bundle = {str(c.identifier[0].value).removeprefix("urn:uuid:") for c in consents if c.identifier}
    disclosures: dict[str, list[dict[str, Any]]] = {}
    for d in audit["disclosures"]:
        disclosures.setdefault(d["event_id"], []).append(d)
    audits = [_audit_event(e, member_ref, disclosures.get(str(e.event_id), []), in_bundle)
              for e in ordered]
    moment = generated_at or (ordered[-1].occurred_at if ordered else None)
    bundle = Bundle(
        id=f"replay-{case_id}" if case_id else None,
        type="collection",
        timestamp=moment,
        meta=Meta(security=[Coding(system=SECURITY, code="PSEUDED", display="pseudonymized")]),
        entry=[BundleEntry(fullUrl=f"urn:uuid:{r.id}", resource=r) for r in [*consents, *audits]],
    )
    return Bundle.model_validate_json(bundle.model_dump_json())  # the round trip validates


def bundle_json(bundle: Bundle) -> str:
    return bundle.model_dump_json(indent=2)


def _member(member_ref: str | None) -> Reference | None:
    if member_ref is None:
        return None
    return Reference(type="Patient", identifier=Identifier(system=MEMBER_REF_SYSTEM, value=member_ref),
                     display="member (pseudonymous reference)")


def _consent(change: dict[str, Any], member_ref: str | None, cancelled: datetime | None = None) -> Consent:
    """A grant as a Consent: inactive, its period ended, once withdrawn or once the case was
    cancelled (whichever came first): a cancelled case's consents allow nothing more."""
    scope, granted = change["scope"], datetime.fromisoformat(change["at"])
    ended = datetime.fromisoformat(change["withdrawn_at"]) if change["withdrawn_at"] else None
    if cancelled is not None:
        cancelled = max(cancelled, granted)  # never before the grant began
        ended = min(ended, cancelled) if ended is not None else cancelled
    period = Period(start=granted, end=ended)
    scope_code = CodeableConcept(coding=[Coding(system=SCOPE_SYSTEM, code=scope, display=SCOPE_TEXT[scope])],
                                 text=scope)
    return Consent(
        id=consent_id(change["event_id"]),
        identifier=[Identifier(system=URI, value=f"urn:uuid:{change['event_id']}")],
        status="inactive" if ended else "active",
        category=[scope_code],
        subject=_member(member_ref),
        grantor=[_member(member_ref)] if member_ref else None,  # type: ignore[list-item]
        date=granted.astimezone(LONDON).date(),
        period=period,
        decision="permit",
        provision=[ConsentProvision(
            period=period,
            action=[CodeableConcept(coding=[Coding(system=CONSENT_ACTION, code=a)], text=scope)
                    for a in SCOPE_ACTIONS[scope]],
            code=[scope_code],
        )],
    )


def _audit_event(event: DomainEvent, member_ref: str | None, disclosures: Sequence[dict[str, Any]],
                 consents_in_bundle: set[str]) -> AuditEvent:
    invalid = [d for d in disclosures if not d["valid"]]
    category = [CodeableConcept(coding=[Coding(system=SERVICE_SYSTEM, code=event.service)], text=event.service)]
    if disclosures:
        code, display = DICOM_EVENT[disclosures[0]["kind"]]
        category.append(CodeableConcept(coding=[Coding(system=DCM, code=code, display=display)]))
    outcome = AuditEventOutcome(
        code=Coding(system=OUTCOME_SYSTEM, code="8", display="Serious failure") if invalid
        else Coding(system=OUTCOME_SYSTEM, code="0", display="Success"),
        detail=[CodeableConcept(coding=[Coding(system=DETAIL_SYSTEM, code="disclosure_without_consent")],
                                text=f"finding: {d['problem']} ({d['recipient']})") for d in invalid] or None,
    )
    return AuditEvent(
        id=str(event.event_id),
        category=category,
        code=CodeableConcept(coding=[Coding(system=EVENT_TYPE_SYSTEM, code=event.type_name)],
                             text=event.type_name),
        action="E" if disclosures else "C",
        severity="alert" if invalid else "informational",
        occurredDateTime=event.occurred_at,
        recorded=event.occurred_at,
        outcome=outcome,
        patient=_member(member_ref),
        agent=[AuditEventAgent(
            type=CodeableConcept(text=event.actor.split(":", 1)[0]),
            who=Reference(display=event.actor),
            requestor=True,
            # the consents the disclosure relied on, by their event ids
            policy=[f"urn:uuid:{c}" for c in dict.fromkeys(
                d["consent_event_id"] for d in disclosures if d["consent_event_id"])] or None,
        )],
        source=AuditEventSource(
            observer=Reference(display=f"second-opinion-cases {event.service} service"),
            type=[CodeableConcept(coding=[Coding(system=SOURCE_TYPE, code="4", display="Application Server")])],
        ),
        entity=[*_case_entities(event), *(_disclosure_entity(d, consents_in_bundle) for d in disclosures)],
    )


def _case_entities(event: DomainEvent) -> list[AuditEventEntity]:
    entities = []
    case_id = getattr(event, "case_id", None)
    if case_id is not None:
        entities.append(AuditEventEntity(
            what=Reference(type="EpisodeOfCare", identifier=Identifier(system=CASE_ID_SYSTEM, value=str(case_id)),
                           display="second-opinion case"),
            role=CodeableConcept(coding=[Coding(system=OBJECT_ROLE, code="4", display="Domain Resource")],
                                 text="case"),
        ))
    details = [_detail("service", event.service), _detail("stream_version", event.originator_version),
               _detail("schema_version", event.schema_version)]
    if event.causation_id:
        details.append(_detail("causation_id", str(event.causation_id)))
    if event.correlation_id:
        details.append(_detail("correlation_id", str(event.correlation_id)))
    entities.append(AuditEventEntity(
        what=Reference(identifier=Identifier(system=EVENT_ID_SYSTEM, value=str(event.event_id)),
                       display=event.type_name),
        role=CodeableConcept(text="event"),
        detail=details,
    ))
    if event.type_name == "consent_granted":
        entities.append(AuditEventEntity(what=_consent_reference(str(event.event_id), {str(event.event_id)}),
                                         role=CodeableConcept(text="consent recorded")))
    return entities


def _disclosure_entity(d: dict[str, Any], consents_in_bundle: set[str]) -> AuditEventEntity:
    details = [_detail("kind", d["kind"]), _detail("recipient", d["recipient"]),
               _detail("valid", d["valid"])]
    if d["consent_scope"]:
        details.append(_detail("consent_scope", d["consent_scope"]))
    if d["problem"]:
        details.append(_detail("problem", d["problem"]))
    what = (_consent_reference(d["consent_event_id"], consents_in_bundle) if d["consent_event_id"]
            else Reference(display="no consent needed" if d["valid"] else "no consent named"))
    return AuditEventEntity(
        what=what,
        role=CodeableConcept(coding=[Coding(system=DISCLOSURE_SYSTEM, code=d["kind"])],
                             text=f"{d['kind']} to {d['recipient']}: the consent that allowed it"),
        detail=details,
    )


def _consent_reference(grant_event_id: str, consents_in_bundle: set[str]) -> Reference:
    """The Consent by its event id; a resolvable reference where it is in the bundle."""
    return Reference(
        reference=f"urn:uuid:{consent_id(grant_event_id)}" if grant_event_id in consents_in_bundle else None,
        type="Consent",
        identifier=Identifier(system=URI, value=f"urn:uuid:{grant_event_id}"),
    )


def _detail(name: str, value: str | int | bool) -> AuditEventEntityDetail:
    kind = CodeableConcept(coding=[Coding(system=DETAIL_SYSTEM, code=name)], text=name)
    if isinstance(value, bool):
        return AuditEventEntityDetail(type=kind, valueBoolean=value)
    if isinstance(value, int):
        return AuditEventEntityDetail(type=kind, valueInteger=value)
    return AuditEventEntityDetail(type=kind, valueString=value)
