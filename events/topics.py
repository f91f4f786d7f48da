"""Kafka topic names of SPEC section 7; case topics are keyed by case id."""

from __future__ import annotations

SERVICES = ("intake", "records", "review", "reporting")


def case_topic(service: str, major: int = 1) -> str:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")
    return f"cases.{service}.v{major}"




ANALYTICS_TOPIC = "cases.analytics.v1"
#: The analytics agent's weekly aggregates, keyed by ISO week (compacted: the latest counts).
ANALYTICS_WEEKLY_TOPIC = "cases.analytics.weekly.v1"

#: Messages a worker could not decode or apply, with the reason in the headers.
DEADLETTER_TOPIC = "cases.deadletter.v1"

#: A reviewer partner's two topics (SPEC section 9): it reads only its requests, writes only
#: its opinions, and its consumer groups are named with PARTNER_GROUP_PREFIX.
def partner_requests_topic(partner: str) -> str:
    return f"partner.{partner}.requests.v1"


def partner_opinions_topic(partner: str) -> str:
    return f"partner.{partner}.opinions.v1"


def partner_group_prefix(partner: str) -> str:
    return f"partner.{partner}."


#: Headers every case-topic message carries (values are UTF-8 text).
HEADERS = ("type", "schema_version", "event_id", "source_service", "notification_id")
