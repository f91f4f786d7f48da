"""The published language: registry, codec round trips, and committed JSON Schemas."""

from __future__ import annotations

import json

from events.codec import decode, encode
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
