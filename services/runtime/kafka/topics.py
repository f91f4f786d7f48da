"""Creates the case topics of SPEC section 7 with kafka-python's admin client.

Case topics keep every event forever (retention.ms=-1): they are the auditors' log and
the source every projection is rebuilt from. Replication follows the broker count.

On a secured broker the topics are made by provisioning, as admin (`make kafka-up
SECURE=1`, services/runtime/kafka/access.py); a service's worker still calls
ensure_topics as its own principal, which may neither create topics nor see those it has
no ACL on, so a refusal to create is not an error here: a topic that is really missing
shows up when the worker waits for its partitions.
"""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import (
    ClusterAuthorizationFailedError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
)

from events.topics import (
    ANALYTICS_TOPIC,
    ANALYTICS_WEEKLY_TOPIC,
    DEADLETTER_TOPIC,
    SERVICES,
    case_topic,
)
from services.runtime.kafka.config import ADMIN_PRINCIPAL, KafkaSettings

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


def ensure_topics(settings: KafkaSettings, principal: str = ADMIN_PRINCIPAL) -> list[str]:
    """Create whatever is missing; returns the names created. Safe to run again."""
    admin = KafkaAdminClient(client_id="cases-admin", **settings.client_config(principal))
    try:
        return create_missing(admin, wanted_topics(settings, broker_count(admin)))
    finally:
        admin.close()


def broker_count(admin: KafkaAdminClient) -> int:
    return len(admin.describe_cluster()["brokers"])


def create_missing(admin: KafkaAdminClient, wanted: list[NewTopic]) -> list[str]:
    """Create the topics of `wanted` that `admin` cannot see yet; returns those it created.
    A principal without CREATE is refused for every topic, existing or not (it is not told
    which exist): it leaves them to provisioning."""
    existing = set(admin.list_topics())
    created = []
    for topic in (t for t in wanted if t.name not in existing):
        try:
            admin.create_topics([topic])
            created.append(topic.name)
        except TopicAlreadyExistsError:
            pass  # another worker made it first
        except (TopicAuthorizationFailedError, ClusterAuthorizationFailedError):
            pass  # a least-privilege principal: provisioning made the topics
    return created
