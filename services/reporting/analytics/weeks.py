"""The weekly de-identified aggregates as `cases analytics` and `GET /analytics` show them:
over Kafka, the latest the analytics agent kept on its compacted topic; embedded, folded
from reporting's views with the same fact builder the agent uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.runtime.collector import collector_paused


@collector_paused()  # folds the whole log's facts (runtime/collector.py)
def weekly_analytics(rt: Any, analytics_key: Callable[[], bytes]) -> list[dict[str, Any]]:
    """`rt`: a deployment (reads only); `analytics_key`: the deployment's analytics key,
    asked for only when the facts are folded here (the composition root holds the keys)."""
    settings = getattr(rt, "settings", None)
    if settings is not None:
        return read_weekly_topic(settings)
    from services.reporting.analytics.facts import CaseNotReady, analytics_fact
    from services.reporting.analytics.weekly import weekly_aggregates

    key = analytics_key()
    facts = []
    for state in rt.reporting.views.all_states():
        try:
            facts.append(analytics_fact(state, key))
        except CaseNotReady:
            continue
    return weekly_aggregates(facts)


def read_weekly_topic(settings: Any) -> list[dict[str, Any]]:
    """The latest aggregates per week, as the analytics agent kept them (as `cases-cli`)."""
    from kafka import KafkaConsumer

    from events.analytics import AnalyticsWeek
    from events.topics import ANALYTICS_WEEKLY_TOPIC
    from services.runtime.kafka.config import CLI_PRINCIPAL

    consumer = KafkaConsumer(ANALYTICS_WEEKLY_TOPIC, **settings.client_config(CLI_PRINCIPAL), group_id=None,
                             auto_offset_reset="earliest", consumer_timeout_ms=2000)
    try:
        latest = {}
        for message in consumer:
            week = AnalyticsWeek.model_validate_json(message.value)
            latest[week.week] = week.model_dump(exclude={"type", "schema_version"})
        return [latest[w] for w in sorted(latest)]
    finally:
        consumer.close()
