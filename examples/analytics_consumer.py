"""An analytics team's consumer of cases.analytics.v1, knowing only the published JSON Schemas.

It imports nothing from this project: it reads the topic with kafka-python, validates each
message against events/schema/analytics_case_fact.v1.json, keeps the latest fact per
analytics_ref (the greatest as_of), and prints cases and outcomes per week.

    python examples/analytics_consumer.py --bootstrap 127.0.0.1:9092 [--schema events/schema/analytics_case_fact.v1.json]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

import jsonschema
from kafka import KafkaConsumer

TOPIC = "cases.analytics.v1"
DEFAULT_SCHEMA = Path(__file__).resolve().parents[1] / "events/schema/analytics_case_fact.v1.json"


def read_facts(bootstrap: str, schema: dict, idle_ms: int) -> tuple[dict[str, dict], int]:
    validator = jsonschema.Draft202012Validator(schema)
    latest: dict[str, dict] = {}
    rejected = 0
    consumer = KafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id=None,
                             auto_offset_reset="earliest", consumer_timeout_ms=idle_ms)
    for message in consumer:
        fact = json.loads(message.value)
        if not validator.is_valid(fact):
            rejected += 1
            continue
        kept = latest.get(fact["analytics_ref"])
        if kept is None or fact["as_of"] >= kept["as_of"]:
            latest[fact["analytics_ref"]] = fact
    consumer.close()
    return latest, rejected


def weekly(facts: dict[str, dict]) -> dict[str, dict]:
    weeks: dict[str, Counter] = defaultdict(Counter)
    for fact in facts.values():
        weeks[fact["week"]]["cases"] += 1
        weeks[fact["week"]][fact["decision"]] += 1
        if fact["outcome"]:
            weeks[fact["week"]][fact["outcome"]] += 1
    return {week: dict(counts) for week, counts in sorted(weeks.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--schema", type=Path, default=DEFAULT_SCHEMA)
    parser.add_argument("--idle-ms", type=int, default=3000, help="stop after this long without news")
    args = parser.parse_args()
    facts, rejected = read_facts(args.bootstrap, json.loads(args.schema.read_text()), args.idle_ms)
    print(json.dumps({"cases": len(facts), "rejected": rejected, "weeks": weekly(facts)}, indent=2))


if __name__ == "__main__":
    main()
