"""The one place for the bytes of an event: JSON via orjson, validated by pydantic."""

from __future__ import annotations

from typing import Any

import orjson

from events.envelope import DomainEvent
from events.registry import UnknownEventType, event_class
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


class UnreadableEvent(ValueError):
    """Bytes that are not an event this code can read; the message says why, never what."""


def from_payload(payload: dict[str, Any]) -> DomainEvent:
    if not isinstance(payload, dict):
        raise UnreadableEvent("not a JSON object")
    payload = dict(payload)
    type_name = payload.pop("type", None)
    if not isinstance(type_name, str):
        raise UnreadableEvent("type: missing")
    version = payload.pop("schema_version", 1)
    cls = event_class(type_name)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise UnreadableEvent("schema_version: not a positive whole number")
    if version > cls.schema_version:
        raise UnreadableEvent(f"schema_version: {type_name} v{version} is newer than this code reads"
                              f" (v{cls.schema_version}); upgrade the consumer")
    payload = upcast(type_name, version, payload, cls.schema_version)
    return cls.model_validate(payload)


def why_unreadable(error: Exception) -> str:
    """A reason a person can act on, naming the field and the problem and never quoting the
    data (a case message may hold a member's sealed identity; an error may echo input)."""
    errors = getattr(error, "errors", None)
    if callable(errors):
        try:
            first = errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "message"
            more = len(errors()) - 1
            return f"{where}: {first['msg']}" + (f" (and {more} more)" if more > 0 else "")
        except Exception:  # noqa: BLE001 - fall back to the plain reasons below
            pass
    if isinstance(error, UnreadableEvent):
        return str(error)
    if isinstance(error, orjson.JSONDecodeError):
        return "not JSON"
    if isinstance(error, UnknownEventType):
        return "type: not a known event type"
    return "not an event this code can read"


def decode(data: bytes) -> DomainEvent:
    return from_payload(orjson.loads(data))
