"""The partner kit's contract: the JSON Schemas and the AsyncAPI document a partner's developer
gets (events/schema/partner/), fresh, self-contained, and accepting what the insurer sends."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from events.asyncapi import EXAMPLES
from events.partner import FROM_PARTNER, TO_PARTNER
from events.schema_export import ASYNCAPI_FILE, PARTNER_DIR, rendered_partner

WIRE_TYPES = sorted({**TO_PARTNER, **FROM_PARTNER})


def published(name: str) -> dict[str, Any]:
    return json.loads((PARTNER_DIR / name).read_text())


def asyncapi() -> dict[str, Any]:
    return published(ASYNCAPI_FILE)


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def refs(node: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from refs(value, f"{where}/{n}")


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    if isinstance(node, dict) and set(node) == {"$ref"}:  # a reference to a reference
        return resolve(document, node["$ref"])
    return node


def test_committed_partner_kit_matches_the_models() -> None:
    """Fails when a partner message changed without `make schemas`."""
    on_disk = {p.name: p.read_text() for p in PARTNER_DIR.iterdir()}
    assert on_disk == rendered_partner(), "events/schema/partner is stale: run `make schemas` and commit"
    assert set(on_disk) == {f"{n}.v1.json" for n in WIRE_TYPES} | {ASYNCAPI_FILE}


@pytest.mark.parametrize("name", WIRE_TYPES)
def test_each_schema_stands_alone_and_accepts_what_the_models_write(name: str) -> None:
    schema = published(f"{name}.v1.json")
    assert schema["$id"] == f"urn:cases:partner:{name}:v1"
    jsonschema.Draft202012Validator.check_schema(schema)
    for _, ref in refs(schema):  # nothing outside the file: a partner needs only this file
        assert ref.startswith("#/$defs/") and resolve(schema, ref) is not None

    message = json.loads(EXAMPLES[name]().model_dump_json())
    assert list(validator(schema).iter_errors(message)) == []
    for field in ("type", "schema_version", "message_id", "pack_id"):
        missing = {k: v for k, v in message.items() if k != field}
        assert not validator(schema).is_valid(missing), f"{name} without {field} passed"
    assert not validator(schema).is_valid({**message, "case_id": "c-1"}), "an extra field passed"
    assert not validator(schema).is_valid({**message, "message_id": "not-a-uuid"})
    assert not validator(schema).is_valid({**message, "type": "something_else"})


def test_an_opinion_outside_the_contract_is_refused_by_its_schema() -> None:
    given = json.loads(EXAMPLES["opinion_given"]().model_dump_json())
    check = validator(published("opinion_given.v1.json"))
    assert not check.is_valid({**given, "outcome": "looks fine"})
    assert not check.is_valid({**given, "summary": ""})
    assert not check.is_valid({**given, "reviewer": "x" * 201})


def test_asyncapi_document_has_the_required_structure() -> None:
    doc = asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    assert doc["defaultContentType"] == "application/json"

    channels = doc["channels"]
    assert {c["address"] for c in channels.values()} == {
        "partner.{partner}.requests.v1", "partner.{partner}.opinions.v1"}
    for channel in channels.values():
        # Every {parameter} of the address is declared, and nothing else.
        assert set(re.findall(r"{(\w+)}", channel["address"])) == set(channel["parameters"])

    operations = doc["operations"]
    assert {(op["action"], resolve(doc, op["channel"]["$ref"])["address"]) for op in operations.values()} == {
        ("receive", "partner.{partner}.requests.v1"), ("send", "partner.{partner}.opinions.v1")}
    for op in operations.values():
        # An operation's messages are messages of its own channel (AsyncAPI 3 requires it).
        channel_ref = op["channel"]["$ref"]
        assert all(m["$ref"].startswith(f"{channel_ref}/messages/") for m in op["messages"])
        assert all(resolve(doc, s["$ref"])["type"] == "scramSha512" for s in op["security"])

    by_action = {op["action"]: op for op in operations.values()}
    received = {resolve(doc, m["$ref"])["name"] for m in by_action["receive"]["messages"]}
    sent = {resolve(doc, m["$ref"])["name"] for m in by_action["send"]["messages"]}
    assert received == set(TO_PARTNER) and sent == set(FROM_PARTNER)

    server = doc["servers"]["insurer"]
    assert server["protocol"] == "kafka"
    assert [resolve(doc, s["$ref"])["type"] for s in server["security"]] == ["scramSha512"]


def test_every_ref_in_the_asyncapi_document_resolves() -> None:
    doc = asyncapi()
    found = list(refs(doc))
    assert len(found) > 20
    for where, ref in found:
        assert resolve(doc, ref) is not None, where


@pytest.mark.parametrize("name", WIRE_TYPES)
def test_asyncapi_messages_carry_the_published_schemas(name: str) -> None:
    """Each message is JSON keyed by the pack id, and its payload (resolved inside the
    document) accepts and refuses exactly what the standalone schema does."""
    doc = asyncapi()
    message = doc["components"]["messages"][name]
    assert message["contentType"] == "application/json"
    assert message["bindings"]["kafka"]["key"]["format"] == "uuid"
    registry: Registry[Any] = Registry().with_resource("urn:asyncapi", Resource.opaque(doc))
    in_document = jsonschema.Draft202012Validator(
        {"$ref": "urn:asyncapi" + message["payload"]["$ref"]}, registry=registry,
        format_checker=jsonschema.FormatChecker())
    standalone = validator(published(f"{name}.v1.json"))
    example = message["examples"][0]
    assert example["key"] == example["payload"]["pack_id"]
    good = json.loads(EXAMPLES[name]().model_dump_json())
    for candidate in (good, example["payload"], {**good, "extra": 1}, {**good, "pack_id": 7},
                      {k: v for k, v in good.items() if k != "message_id"}):
        assert in_document.is_valid(candidate) == standalone.is_valid(candidate)
    assert in_document.is_valid(example["payload"])
