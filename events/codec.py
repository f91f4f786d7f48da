"""The one place for the bytes of an event: JSON via orjson, validated by pydantic."""

from __future__ import annotations

from typing import Any

import orjson

from events.envelope import DomainEvent
from events.registry import event_class
from events.upcasting import upcast

#: Fields the store keeps in its own columns, so they are left out of the stored payload.
STREAM_FIELDS = {"originator_id", "originator_version"}


def to_payload(event: DomainEvent) -> dict[str, Any]:
    """The event as JSON-ready data, with its type and schema version."""
    data = event.model_dump(mode="json")
    return {"type": event.type_name, "schema_version": event.schema_version, **data}


def encode(event: DomainEvent) -> bytes:
    return orjson.dumps(to_payload(event))


def encode_state(event: DomainEvent) -> bytes:
    """Stored form: payload without the stream position the store already holds."""
    payload = to_payload(event)
    for name in STREAM_FIELDS:
        payload.pop(name)
    return orjson.dumps(payload)


def from_payload(payload: dict[str, Any]) -> DomainEvent:
    payload = dict(payload)
    type_name = payload.pop("type")
    version = payload.pop("schema_version", 1)
    cls = event_class(type_name)
    payload = upcast(type_name, version, payload, cls.schema_version)
    return cls.model_validate(payload)


def decode(data: bytes) -> DomainEvent:
    return from_payload(orjson.loads(data))
