"""JSON Schema export of every published event (`make schemas` writes events/schema/)."""

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


def main() -> int:
    SCHEMA_DIR.mkdir(exist_ok=True)
    wanted = rendered()
    for stale in SCHEMA_DIR.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink()
    for name, text in wanted.items():
        (SCHEMA_DIR / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
