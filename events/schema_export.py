"""JSON Schema export of every published event (`make schemas` writes events/schema/), and
the partner kit: the partner messages' schemas and their AsyncAPI document (events/schema/partner/)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, get_args

from events.analytics import AnalyticsCaseFact, AnalyticsWeek
from events.registry import REGISTRY

SCHEMA_DIR = Path(__file__).parent / "schema"

#: Published models that are not case events (their type and version are model fields).
FACTS: dict[str, type[AnalyticsCaseFact] | type[AnalyticsWeek]] = {
    "analytics_case_fact": AnalyticsCaseFact, "analytics_week": AnalyticsWeek}


def schema_for(type_name: str) -> dict[str, Any]:
    cls = REGISTRY[type_name]
    schema = cls.model_json_schema()
    schema["title"] = type_name
    schema["description"] = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
    props = schema.setdefault("properties", {})
    props["type"] = {"const": type_name, "description": "Wire type name"}
    props["schema_version"] = {"const": cls.schema_version, "description": "Payload major version"}
    schema["required"] = ["type", "schema_version", *schema.get("required", [])]
    schema["$id"] = f"urn:cases:event:{type_name}:v{cls.schema_version}"
    schema["x-service"] = cls.service
    return schema


def schema_for_fact(type_name: str) -> dict[str, Any]:
    cls = FACTS[type_name]
    version = get_args(cls.model_fields["schema_version"].annotation)[0]
    schema = cls.model_json_schema()
    schema["title"] = type_name
    schema["description"] = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
    props = schema["properties"]
    props["type"] = {"const": type_name, "description": "Wire type name"}
    props["schema_version"] = {"const": version, "description": "Payload major version"}
    schema["$id"] = f"urn:cases:fact:{type_name}:v{version}"
    schema["x-service"] = cls.service
    return dict(schema)


def rendered() -> dict[str, str]:
    """File name -> text, exactly what `make schemas` writes."""
    files = {
        f"{name}.v{REGISTRY[name].schema_version}.json": json.dumps(
            schema_for(name), indent=2, sort_keys=True
        )
        + "\n"
        for name in sorted(REGISTRY)
    }
    for name in sorted(FACTS):
        version = get_args(FACTS[name].model_fields["schema_version"].annotation)[0]
        files[f"{name}.v{version}.json"] = json.dumps(schema_for_fact(name), indent=2, sort_keys=True) + "\n"
    return files


# -- the partner kit (SPEC section 9): its own folder, its own $id namespace ------------------

PARTNER_DIR = SCHEMA_DIR / "partner"
ASYNCAPI_FILE = "asyncapi.json"


def schema_for_partner(type_name: str) -> dict[str, Any]:
    """One partner message as a self-contained JSON Schema (its nested types under $defs).
    `type`, `schema_version`, `message_id` and `pack_id` are required on the wire even where
    the model has a default, so a partner's validator catches a message that omits them."""
    from events.partner import FROM_PARTNER, TO_PARTNER

    cls = {**TO_PARTNER, **FROM_PARTNER}[type_name]
    schema = cls.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:cases:partner:{type_name}:v1"
    schema["title"] = type_name
    schema["description"] = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
    props = schema["properties"]
    props["type"] = {"const": type_name, "description": "Wire type name"}
    props["schema_version"] = {"const": 1, "description": "Message major version"}
    wire = ["type", "schema_version", "message_id", "pack_id"]
    schema["required"] = [*wire, *(f for f in schema.get("required", []) if f not in wire)]
    schema["x-direction"] = "to_partner" if type_name in TO_PARTNER else "from_partner"
    return schema


def rendered_partner() -> dict[str, str]:
    """File name -> text under events/schema/partner/: a schema per message, and the
    AsyncAPI document built from the same schemas."""
    from events.asyncapi import asyncapi_document
    from events.partner import FROM_PARTNER, TO_PARTNER

    schemas = {name: schema_for_partner(name) for name in sorted({**TO_PARTNER, **FROM_PARTNER})}
    files = {f"{name}.v1.json": _json(schema) for name, schema in schemas.items()}
    files[ASYNCAPI_FILE] = _json(asyncapi_document(schemas))
    return files


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def older_versions() -> dict[str, list[int]]:
    """Type name -> the earlier versions whose schemas stay published (1 .. current-1)."""
    return {name: list(range(1, cls.schema_version)) for name, cls in REGISTRY.items()
            if cls.schema_version > 1}


def breaking_changes(old: dict[str, Any], new: dict[str, Any], where: str = "") -> list[str]:
    """What makes `new` unreadable by a consumer of `old` within one schema version: a field
    removed, a field newly required, a field's type changed (recursively into objects)."""
    problems = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for field in old_props:
        if field not in new_props:
            problems.append(f"{where}{field}: removed")
        elif _type_of(old_props[field]) != _type_of(new_props[field]):
            problems.append(f"{where}{field}: type changed from {_type_of(old_props[field])}"
                            f" to {_type_of(new_props[field])}")
    for field in set(new.get("required", [])) - set(old.get("required", [])):
        problems.append(f"{where}{field}: now required")
    for name, old_def in old.get("$defs", {}).items():
        new_def = new.get("$defs", {}).get(name)
        if new_def is not None:
            problems += breaking_changes(old_def, new_def, f"{where}{name}.")
    return problems


def _type_of(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return "object " + str(prop["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in prop:
        return " | ".join(sorted(_type_of(p) for p in prop["anyOf"]))
    if "const" in prop:
        return f"const {prop['const']!r}"
    kind = prop.get("type", "any")
    if kind == "array" and isinstance(prop.get("items"), dict):
        return f"array of {_type_of(prop['items'])}"
    return str(kind) + (f" ({prop['format']})" if "format" in prop else "")


def main() -> int:
    """Write the current version of every schema; keep the files of earlier versions; refuse
    to overwrite a version's schema with a breaking change (that needs a new version)."""
    SCHEMA_DIR.mkdir(exist_ok=True)
    wanted = rendered()
    keep = {f"{name}.v{v}.json" for name, versions in older_versions().items() for v in versions}
    refused = []
    for name, text in wanted.items():
        path = SCHEMA_DIR / name
        if path.exists():
            problems = breaking_changes(json.loads(path.read_text()), json.loads(text))
            if problems:
                refused.append(f"{name}: {'; '.join(problems)}")
    partner = rendered_partner()
    for name, text in partner.items():
        path = PARTNER_DIR / name
        if name != ASYNCAPI_FILE and path.exists():
            problems = breaking_changes(json.loads(path.read_text()), json.loads(text))
            if problems:
                refused.append(f"partner/{name}: {'; '.join(problems)}")
    if refused:
        sys.stderr.write("breaking changes within one schema version (bump schema_version and add"
                         " an upcaster):\n  " + "\n  ".join(refused) + "\n")
        return 1
    for stale in SCHEMA_DIR.glob("*.json"):
        if stale.name not in wanted and stale.name not in keep:
            stale.unlink()
    for name, text in wanted.items():
        (SCHEMA_DIR / name).write_text(text)
    PARTNER_DIR.mkdir(exist_ok=True)
    for stale in PARTNER_DIR.glob("*.json"):
        if stale.name not in partner:
            stale.unlink()
    for name, text in partner.items():
        (PARTNER_DIR / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
