"""The AsyncAPI 3.0 document of the partner topics (SPEC section 9), built from the published
JSON Schemas of events/partner.py, so a partner's developer reads one contract and the code
cannot drift from it (`make schemas` writes it; a test checks it is fresh).

The document describes the partner's application: it receives on its requests channel and
sends on its opinions channel. Every `$ref` in it points inside the document: each message
schema's nested types are lifted from its `$defs` to `components.schemas`.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from events.partner import (
    FROM_PARTNER,
    TO_PARTNER,
    OpinionGiven,
    OpinionRejected,
    PackCondition,
    PackRecordEntry,
    RecallAcknowledged,
    ReviewRecalled,
    ReviewRequested,
)

KAFKA_BINDING = "0.5.0"
SCHEME = "scramSha512"

# Fixed values, so the examples (and the document) are the same on every run.
_PACK = UUID("6f1c2a9e-3b7d-4c1e-9a0f-2d5e8b7c4a11")
_AT = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)


def asyncapi_document(schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The whole document; `schemas` maps each wire type name to its published JSON Schema."""
    components: dict[str, Any] = {"schemas": {}, "messages": {}}
    for name, schema in sorted(schemas.items()):
        components["schemas"][name] = _lift_defs(name, schema, components["schemas"])
        components["messages"][name] = _message(name, schema)
    components["parameters"] = {"partner": {
        "description": "The partner's name as registered by `cases partner add NAME` (letters, "
                       "digits and hyphens); it names the partner's topics, its consumer groups "
                       "(`partner.NAME.` and anything after) and its user (`partner-NAME`).",
        "examples": ["acme-experts"]}}
    components["securitySchemes"] = {"scram": {
        "type": SCHEME,
        "description": "SASL/SCRAM-SHA-512 as the user `partner-NAME`, with the password given "
                       "at onboarding (`cases partner add NAME --password-file F`). The ACLs let "
                       "this user read its requests topic with consumer groups prefixed "
                       "`partner.NAME.`, write its opinions topic, and nothing else."}}
    return {
        "asyncapi": "3.0.0",
        "id": "urn:cases:partner",
        "info": {
            "title": "Second opinion cases: reviewer partner topics",
            "version": "1.0.0",
            "description": (
                "What a reviewer partner (a third-party expert network) exchanges with the "
                "insurer over Kafka. The insurer writes pseudonymised review packs, recalls "
                "and rejections to `partner.NAME.requests.v1`; the partner answers on "
                "`partner.NAME.opinions.v1`. Every message is JSON, keyed by its pack id, and "
                "carries a `message_id` the receiver uses to drop a redelivered copy. No "
                "message carries a direct identifier of the member or the GP."),
        },
        "defaultContentType": "application/json",
        "servers": {"insurer": {
            "host": "127.0.0.1:9092",
            "protocol": "kafka",
            "description": "The development broker (`make kafka-up SECURE=1`); the insurer gives "
                           "a partner its own bootstrap address at onboarding.",
            "security": [{"$ref": "#/components/securitySchemes/scram"}]}},
        "channels": {
            "requests": _channel("requests", "To the partner: review packs, recalls, rejections.",
                                 sorted(TO_PARTNER)),
            "opinions": _channel("opinions", "From the partner: opinions and recall acknowledgements.",
                                 sorted(FROM_PARTNER)),
        },
        "operations": {
            "receiveRequests": {
                "action": "receive",
                "channel": {"$ref": "#/channels/requests"},
                "summary": "Read review packs, recalls and rejections addressed to this partner.",
                "description": "Use a consumer group named `partner.NAME.` plus anything (the ACLs "
                               "refuse any other). On `review_requested`, review the pack and answer "
                               "by `respond_by`; on `review_recalled`, stop, destroy the pack and "
                               "acknowledge by `acknowledge_by`; `opinion_rejected` says which of "
                               "the partner's messages changed nothing, and why.",
                "messages": [{"$ref": f"#/channels/requests/messages/{n}"} for n in sorted(TO_PARTNER)],
                "security": [{"$ref": "#/components/securitySchemes/scram"}],
                "bindings": {"kafka": {"bindingVersion": KAFKA_BINDING, "groupId": {
                    "type": "string", "description": "partner.NAME. followed by anything"}}},
            },
            "sendOpinions": {
                "action": "send",
                "channel": {"$ref": "#/channels/opinions"},
                "summary": "Answer a pack with an opinion, or acknowledge a recall.",
                "description": "One `opinion_given` per pack; a second one, one for an unknown or "
                               "recalled pack, or one that fails its schema is dead-lettered and "
                               "answered with `opinion_rejected`.",
                "messages": [{"$ref": f"#/channels/opinions/messages/{n}"} for n in sorted(FROM_PARTNER)],
                "security": [{"$ref": "#/components/securitySchemes/scram"}],
            },
        },
        "components": components,
    }


def _channel(kind: str, description: str, messages: list[str]) -> dict[str, Any]:
    return {
        "address": f"partner.{{partner}}.{kind}.v1",
        "title": f"The partner's {kind} topic",
        "description": description,
        "parameters": {"partner": {"$ref": "#/components/parameters/partner"}},
        "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in messages},
        "bindings": {"kafka": {"bindingVersion": KAFKA_BINDING}},
    }


def _message(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    example = EXAMPLES[name]().model_dump(mode="json")
    return {
        "name": name,
        "title": name.replace("_", " ").capitalize(),
        "summary": schema["description"],
        "contentType": "application/json",
        "payload": {"$ref": f"#/components/schemas/{name}"},
        "bindings": {"kafka": {"bindingVersion": KAFKA_BINDING, "key": {
            "type": "string", "format": "uuid",
            "description": "The pack id, as UTF-8 text (every message of a pack on one partition)"}}},
        "x-json-schema": f"urn:cases:partner:{name}:v1 ({name}.v1.json beside this document)",
        "examples": [{"name": f"{name}-example", "key": str(_PACK), "payload": example}],
    }


def _lift_defs(name: str, schema: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """The schema with its `$defs` moved to components.schemas (refs rewritten), and without
    its `$id`, so that every reference resolves against the document itself."""
    body = copy.deepcopy(schema)
    body.pop("$id", None)
    body.pop("$schema", None)
    for def_name, definition in body.pop("$defs", {}).items():
        lifted = _rewrite_refs(definition)
        if shared.setdefault(def_name, lifted) != lifted:  # one name, one shape, in one document
            raise ValueError(f"{name}: nested type {def_name} differs from another message's")
    rewritten: dict[str, Any] = _rewrite_refs(body)
    return rewritten


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" else _rewrite_refs(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node


def _requested() -> ReviewRequested:
    return ReviewRequested(
        schema_version=1, message_id=UUID("0b9e6c52-7d1f-4f3a-8c2e-5a4b3c2d1e01"), pack_id=_PACK, sent_at=_AT,
        respond_by=date(2025, 3, 17), age_band="40-49", outward_code="SW1A", nation="ENG",
        specialty="orthopaedics",
        condition=PackCondition(name="Rotator cuff tear", icd10="M75.1", nature="acute"),
        diagnosis_summary="Full-thickness tear of the supraspinatus on MRI.",
        proposed_treatment="Arthroscopic repair.",
        records=(PackRecordEntry(kind="imaging", days_after_diagnosis=-3),
                 PackRecordEntry(kind="clinical_letter", days_after_diagnosis=2)))


def _recalled() -> ReviewRecalled:
    return ReviewRecalled(schema_version=1, message_id=UUID("0b9e6c52-7d1f-4f3a-8c2e-5a4b3c2d1e02"), pack_id=_PACK,
                          recalled_at=_AT, reason="consent_withdrawn",
                          acknowledge_by=datetime(2025, 3, 4, 9, 30, tzinfo=UTC))


def _rejected() -> OpinionRejected:
    return OpinionRejected(schema_version=1, message_id=UUID("0b9e6c52-7d1f-4f3a-8c2e-5a4b3c2d1e03"), pack_id=_PACK,
                           rejected_at=_AT, rejected_message_id=UUID("5d7e8f90-1a2b-4c3d-8e4f-5a6b7c8d9e04"),
                           reason="invalid", detail="outcome: not one of the allowed values")


def _given() -> OpinionGiven:
    return OpinionGiven(schema_version=1, message_id=UUID("5d7e8f90-1a2b-4c3d-8e4f-5a6b7c8d9e04"), pack_id=_PACK,
                        outcome="confirmed", summary="The imaging supports the diagnosis; repair is appropriate.",
                        reviewer="Dr Example Reviewer", given_at=_AT)


def _acknowledged() -> RecallAcknowledged:
    return RecallAcknowledged(schema_version=1, message_id=UUID("5d7e8f90-1a2b-4c3d-8e4f-5a6b7c8d9e05"), pack_id=_PACK,
                              acknowledged_at=_AT)


#: One example per wire type, built through the models so an example is always valid.
EXAMPLES: dict[str, Any] = {
    "review_requested": _requested, "review_recalled": _recalled, "opinion_rejected": _rejected,
    "opinion_given": _given, "recall_acknowledged": _acknowledged}
