"""Each service connects as its own principal and may do only what its work needs: write
its own topic (and the dead-letter topic), read its leaders' topics in its own group."""

from __future__ import annotations

import pytest
from kafka import KafkaAdminClient, TopicPartition
from kafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError
from kafka.structs import OffsetAndMetadata

from events.topics import ANALYTICS_TOPIC, ANALYTICS_WEEKLY_TOPIC, DEADLETTER_TOPIC, SERVICES, case_topic
from services.bootstrap import leaders_of
from services.runtime.kafka.config import CLI_PRINCIPAL, SERVICE_PRINCIPALS
from services.runtime.kafka.consumer import group_id
from tests.security.clients import consumer, producer, publish, read_all
from tests.security.secure_bus import SecureBroker, reset_secure_bus


@pytest.fixture
def provisioned(broker: SecureBroker) -> SecureBroker:
    reset_secure_bus(broker.settings)
    return broker


def as_principal(broker: SecureBroker, service: str) -> dict:
    return broker.settings.client_config(SERVICE_PRINCIPALS.get(service, service))


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_writes_its_own_topic_and_reads_its_leaders(provisioned: SecureBroker, service: str) -> None:
    mine = as_principal(provisioned, service)
    with producer(mine) as publisher:
        publish(publisher, case_topic(service))
        publish(publisher, DEADLETTER_TOPIC)  # a poison message is parked, whoever read it
        for other in (s for s in SERVICES if s != service):
            with pytest.raises(TopicAuthorizationFailedError):
                publish(publisher, case_topic(other))
    for leader in leaders_of(service):
        with producer(as_principal(provisioned, leader)) as theirs:
            publish(theirs, case_topic(leader))
        with consumer(mine, group_id(service)) as reader:
            assert len(read_all(reader, case_topic(leader))) == 1
            reader.commit()  # where it got to, under its own group
            assert sum((reader.committed(tp) or 0) for tp in reader.assignment()) == 1
    for stranger in (s for s in SERVICES if s not in leaders_of(service)):
        with consumer(mine, None) as reader, pytest.raises(TopicAuthorizationFailedError):
            read_all(reader, case_topic(stranger))


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_cannot_use_another_services_group(provisioned: SecureBroker, service: str) -> None:
    leader = leaders_of(service)[0]
    other = next(s for s in SERVICES if s != service)
    with producer(as_principal(provisioned, leader)) as theirs:
        publish(theirs, case_topic(leader))
    with consumer(as_principal(provisioned, service), group_id(other)) as reader, \
            pytest.raises(GroupAuthorizationFailedError):
        read_all(reader, case_topic(leader))
        reader.commit()


def test_the_analytics_agent_reads_every_case_topic_and_writes_only_analytics(provisioned: SecureBroker) -> None:
    mine = as_principal(provisioned, "analytics")
    with producer(mine) as publisher:
        publish(publisher, ANALYTICS_TOPIC)
        publish(publisher, ANALYTICS_WEEKLY_TOPIC)
        for topic in [*(case_topic(s) for s in SERVICES), DEADLETTER_TOPIC]:
            with pytest.raises(TopicAuthorizationFailedError):
                publish(publisher, topic)
    with consumer(mine, group_id("analytics")) as reader:
        for service in SERVICES:
            read_all(reader, case_topic(service))
            reader.commit()


def test_the_command_line_reads_and_writes_nothing(provisioned: SecureBroker) -> None:
    """cases-cli reads the case, dead-letter and analytics topics (replay, verify, rebuild,
    dead letters) and the services' committed offsets (lag); it never writes."""
    mine = provisioned.settings.client_config(CLI_PRINCIPAL)
    topics = [*(case_topic(s) for s in SERVICES), DEADLETTER_TOPIC, ANALYTICS_TOPIC, ANALYTICS_WEEKLY_TOPIC]
    with producer(as_principal(provisioned, "intake")) as intake:
        publish(intake, case_topic("intake"))
    with consumer(mine, None) as reader:
        assert len(read_all(reader, case_topic("intake"))) == 1
        for topic in topics:
            read_all(reader, topic)
    # Not idempotent: a principal without WRITE anywhere is refused a producer id before
    # any topic is named (ClusterAuthorizationFailed); this shows each topic's refusal.
    with producer(mine, enable_idempotence=False) as publisher:
        for topic in topics:
            with pytest.raises(TopicAuthorizationFailedError):
                publish(publisher, topic)
    admin = KafkaAdminClient(**mine)
    try:
        groups = [group_id(s) for s in SERVICES]
        assert set(admin.list_group_offsets(groups)) == set(groups)
    finally:
        admin.close()
    with consumer(mine, group_id("intake")) as reader, pytest.raises(GroupAuthorizationFailedError):
        reader.assign([TopicPartition(case_topic("intake"), 0)])
        # Lag is read, never moved.
        reader.commit({TopicPartition(case_topic("intake"), 0): OffsetAndMetadata(0, "", -1)})


def test_provisioning_again_takes_back_a_grant_nobody_needs(provisioned: SecureBroker) -> None:
    """An ACL a principal was given by hand (or by an older version) is removed by the next
    provisioning: the broker converges on the least-privilege table."""
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ResourcePattern, ResourceType

    from services.runtime.kafka.config import ADMIN_PRINCIPAL
    from tests.security.secure_bus import reset_secure_bus as provision_again

    admin = KafkaAdminClient(**provisioned.settings.client_config(ADMIN_PRINCIPAL))
    try:
        admin.create_acls([ACL("User:svc-intake", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
                               ResourcePattern(ResourceType.TOPIC, case_topic("review")))])
    finally:
        admin.close()
    with producer(as_principal(provisioned, "review")) as review:
        publish(review, case_topic("review"))
    with consumer(as_principal(provisioned, "intake"), None) as reader:
        assert len(read_all(reader, case_topic("review"))) == 1  # the hand-made grant works
    provision_again(provisioned.settings)
    with consumer(as_principal(provisioned, "intake"), None) as reader, \
            pytest.raises(TopicAuthorizationFailedError):
        read_all(reader, case_topic("review"))
