"""The published language: registry, codec round trips, and committed JSON Schemas."""

from __future__ import annotations

import json

import orjson
import pytest

from events.codec import (
    decode,
    encode,
    encode_state,
    from_payload,
    stored_event_and_wire,
    to_payload,
    why_unreadable,
)
from events.registry import REGISTRY
from events.schema_export import SCHEMA_DIR, older_versions, rendered
from tests.fixtures import Desk, policy


def test_committed_schemas_match_the_event_models() -> None:
    """Fails when an event changed without `make schemas`; earlier versions stay published."""
    older = {f"{name}.v{v}.json" for name, versions in older_versions().items() for v in versions}
    on_disk = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.json") if p.name not in older}
    assert on_disk == rendered(), "events/schema is stale: run `make schemas` and commit"
    assert all((SCHEMA_DIR / name).exists() for name in older), "an earlier version's schema is gone"


def test_every_event_type_has_a_unique_wire_name_a_version_and_a_service() -> None:
    for name, cls in REGISTRY.items():
        assert cls.type_name == name
        assert cls.schema_version >= 1
        assert cls.service in ("intake", "records", "review", "reporting")


def test_every_event_carries_the_envelope() -> None:
    envelope = {"originator_id", "originator_version", "event_id", "occurred_at", "actor",
                "causation_id", "correlation_id"}
    for cls in REGISTRY.values():
        assert envelope <= set(cls.model_fields)


def test_recorded_events_round_trip_through_the_codec_and_match_their_schema(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.to_review(case)
    desk.act(desk.rt.review.submit_opinion, case, "confirmed", "Agree", "Dr X")
    desk.act(desk.rt.reporting.deliver_report, case)
    events = desk.rt.reporting.views.audit_trail(case)
    assert len({e.type_name for e in events}) >= 12
    schemas = rendered()
    for event in events:
        assert decode(encode(event)) == event
        payload = json.loads(encode(event))
        schema = json.loads(schemas[f"{event.type_name}.v{event.schema_version}.json"])
        assert set(schema["required"]) <= set(payload)
        assert set(payload) <= set(schema["properties"])


def test_the_fast_json_path_writes_and_reads_exactly_what_the_dict_path_does(desk: Desk) -> None:
    """encode()/decode() go through pydantic-core's JSON; the bytes and the events must be
    those of the dict path (to_payload + orjson, from_payload), which the upcasters use."""
    desk.load_policies(policy())
    case = desk.open()
    desk.to_review(case)
    desk.act(desk.rt.review.submit_opinion, case, "confirmed", "Agree", "Dr X")
    desk.act(desk.rt.reporting.deliver_report, case)
    for event in desk.rt.reporting.views.audit_trail(case):
        dict_bytes = orjson.dumps(to_payload(event))
        assert encode(event) == dict_bytes
        assert decode(dict_bytes) == from_payload(orjson.loads(dict_bytes)) == event
        state = encode_state(event)
        assert b"originator_id" not in state
        assert stored_event_and_wire(event.originator_id, event.originator_version, state) == (event, dict_bytes)
        # Keys in another order, or an older version's head, take the dict path and agree.
        reordered = orjson.dumps(dict(reversed(orjson.loads(dict_bytes).items())))
        assert decode(reordered) == event


def test_bytes_the_fast_path_refuses_get_the_dict_paths_reason() -> None:
    head = b'{"type":"consent_granted","schema_version":1,'
    for data, reason in [(head + b'"scope":', "not JSON"),
                         (head + b'"extra":1}', "originator_id: Field required")]:
        with pytest.raises(Exception) as refused:
            decode(data)
        assert why_unreadable(refused.value).startswith(reason), why_unreadable(refused.value)
