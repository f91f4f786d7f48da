"""Creates the case topics of SPEC section 7 with kafka-python's admin client.

Case topics keep every event forever (retention.ms=-1): they are the auditors' log and
the source every projection is rebuilt from. Replication follows the broker count.
"""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from events.topics import (
    ANALYTICS_TOPIC,
    ANALYTICS_WEEKLY_TOPIC,
    DEADLETTER_TOPIC,
    SERVICES,
    case_topic,
)
from services.runtime.kafka.config import KafkaSettings

FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}


def wanted_topics(settings: KafkaSettings, brokers: int) -> list[NewTopic]:
    replication = settings.replication_factor or min(3, brokers)
    forever = {**FOREVER, "min.insync.replicas": str(max(1, replication - 1))}
    topics = [NewTopic(case_topic(s), settings.partitions, replication, topic_configs=forever)
              for s in SERVICES]
    topics.append(NewTopic(DEADLETTER_TOPIC, 1, replication, topic_configs=forever))
    topics.append(NewTopic(ANALYTICS_TOPIC, settings.partitions, replication,
                           topic_configs={"retention.ms": str(400 * 24 * 3600 * 1000)}))
    topics.append(NewTopic(ANALYTICS_WEEKLY_TOPIC, 1, replication,
                           topic_configs={"cleanup.policy": "compact"}))
    return topics


def ensure_topics(settings: KafkaSettings) -> list[str]:
    """Create whatever is missing; returns the names created. Safe to run again."""
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap, client_id="cases-admin")
    try:
        brokers = len(admin.describe_cluster()["brokers"])
        existing = set(admin.list_topics())
        missing = [t for t in wanted_topics(settings, brokers) if t.name not in existing]
        created = []
        for topic in missing:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass  # another worker made it first
        return created
    finally:
        admin.close()
