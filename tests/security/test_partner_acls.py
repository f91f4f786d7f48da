"""A reviewer partner, provisioned by `provision_partner`, with its own credentials: it
reads its requests in its own groups and writes its opinions, and nothing else (SPEC
section 9); review's partner gateway feeds it. After `revoke_partner` it is let in nowhere."""

from __future__ import annotations

import secrets
from uuid import uuid4

import pytest
from kafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from events.topics import (
    ANALYTICS_TOPIC,
    ANALYTICS_WEEKLY_TOPIC,
    DEADLETTER_TOPIC,
    SERVICES,
    case_topic,
    partner_opinions_topic,
    partner_requests_topic,
)
from services.common.errors import BadInput
from services.runtime.kafka.access import (
    GATEWAY_GROUP,
    GATEWAY_SERVICE,
    partner_names,
    partner_principals,
    provision_partner,
    revoke_partner,
)
from services.runtime.kafka.config import SERVICE_PRINCIPALS
from tests.security.clients import consumer, producer, publish, read_all, read_in_group
from tests.security.secure_bus import SecureBroker, connection_errors, sasl

PACK = b'{"type": "review_requested", "pack_id": "p-1"}'
OPINION = b'{"type": "opinion_given", "pack_id": "p-1", "outcome": "confirmed"}'


def new_partner(broker: SecureBroker, prefix: str = "acme") -> tuple[str, str, dict]:
    """A partner of its own for each test (the broker is shared with earlier runs)."""
    name, password = f"{prefix}-{uuid4().hex[:8]}", secrets.token_urlsafe(18)
    done = provision_partner(broker.settings, name, password, ["orthopaedics"])
    assert done == {"partner": name, "principal": f"User:partner-{name}",
                    "requests_topic": f"partner.{name}.requests.v1",
                    "opinions_topic": f"partner.{name}.opinions.v1", "secured": True}
    return name, password, sasl(broker.bootstrap, f"partner-{name}", password)


def test_a_partner_reads_its_requests_and_writes_its_opinions(broker: SecureBroker) -> None:
    name, _, partner = new_partner(broker)
    gateway = broker.settings.client_config(SERVICE_PRINCIPALS[GATEWAY_SERVICE])
    with producer(gateway) as review:
        publish(review, partner_requests_topic(name), PACK)
    with consumer(partner, f"partner.{name}.g1") as reader:
        assert [m.value for m in read_in_group(reader, partner_requests_topic(name), 1)] == [PACK]
        # It sees its own two topics and no other.
        assert reader.topics() == {partner_requests_topic(name), partner_opinions_topic(name)}
    with producer(partner) as answers:
        publish(answers, partner_opinions_topic(name), OPINION)
    with consumer(gateway, GATEWAY_GROUP) as review_in:
        assert [m.value for m in read_all(review_in, partner_opinions_topic(name))] == [OPINION]
        review_in.commit()


def test_a_partner_is_refused_everything_else(broker: SecureBroker) -> None:
    name, _, partner = new_partner(broker)
    other, _, _ = new_partner(broker, "other")
    for topic in [partner_requests_topic(other), partner_opinions_topic(other), DEADLETTER_TOPIC,
                  *(case_topic(s) for s in SERVICES), ANALYTICS_TOPIC, ANALYTICS_WEEKLY_TOPIC]:
        with consumer(partner, None) as reader, pytest.raises(TopicAuthorizationFailedError):
            read_all(reader, topic)
    with producer(partner) as writer:
        publish(writer, partner_opinions_topic(name), OPINION)
        for topic in [partner_requests_topic(name), partner_opinions_topic(other),
                      DEADLETTER_TOPIC, case_topic("review")]:
            with pytest.raises(TopicAuthorizationFailedError):
                publish(writer, topic)
    with consumer(partner, None) as reader, pytest.raises(TopicAuthorizationFailedError):
        read_all(reader, partner_opinions_topic(name))  # what it wrote is not for it to read back
    with producer(broker.settings.client_config(SERVICE_PRINCIPALS[GATEWAY_SERVICE])) as review:
        publish(review, partner_requests_topic(name), PACK)
    for group in [f"partner.{other}.g1", GATEWAY_GROUP, "g1", f"partner.{name}"]:
        with consumer(partner, group) as reader, pytest.raises(GroupAuthorizationFailedError):
            read_in_group(reader, partner_requests_topic(name), 1)


def test_the_other_services_get_nothing_of_a_partner(broker: SecureBroker) -> None:
    name, _, _ = new_partner(broker)
    for service in ("intake", "records", "reporting", "analytics"):
        mine = broker.settings.client_config(SERVICE_PRINCIPALS[service])
        with producer(mine) as writer, pytest.raises(TopicAuthorizationFailedError):
            publish(writer, partner_requests_topic(name))
        with consumer(mine, None) as reader, pytest.raises(TopicAuthorizationFailedError):
            read_all(reader, partner_opinions_topic(name))


def test_a_revoked_partner_is_let_in_nowhere(broker: SecureBroker) -> None:
    name, password, partner = new_partner(broker)
    assert f"User:partner-{name}" in partner_principals(broker.settings)
    with consumer(partner, f"partner.{name}.g1") as early:
        assert read_all(early, partner_requests_topic(name)) == []
        revoked = revoke_partner(broker.settings, name)
        assert revoked["credentials_deleted"] is True and revoked["revoked_acls"] >= 5
        # A connection opened before is no longer authorised...
        with pytest.raises(TopicAuthorizationFailedError):
            read_all(early, partner_requests_topic(name))
    # ... and its password no longer authenticates.
    assert "_AUTHENTICATION" in connection_errors(broker.bootstrap, (f"partner-{name}", password))
    assert name not in partner_names(broker.settings)
    again = revoke_partner(broker.settings, name)  # idempotent
    assert again["revoked_acls"] == 0 and again["credentials_deleted"] is False
    # The gateway lost its grants on the partner's topics too.
    with producer(broker.settings.client_config(SERVICE_PRINCIPALS[GATEWAY_SERVICE])) as review, \
            pytest.raises(TopicAuthorizationFailedError):
        publish(review, partner_requests_topic(name), PACK)


def test_provisioning_again_changes_only_the_password(broker: SecureBroker) -> None:
    name, old_password, _ = new_partner(broker)
    new_password = secrets.token_urlsafe(18)
    provision_partner(broker.settings, name, new_password, ["orthopaedics"])
    assert partner_names(broker.settings).count(name) == 1
    assert "_AUTHENTICATION" in connection_errors(broker.bootstrap, (f"partner-{name}", old_password))
    assert connection_errors(broker.bootstrap, (f"partner-{name}", new_password)) == []
    revoke_partner(broker.settings, name)


@pytest.mark.parametrize("name", ["Acme", "a", "acme.b", "acme_b", "../acme", "-acme", "a" * 42, "acme b"])
def test_a_partner_name_must_be_a_safe_name(broker: SecureBroker, name: str) -> None:
    with pytest.raises(BadInput) as refused:
        provision_partner(broker.settings, name, secrets.token_urlsafe(18), ["orthopaedics"])
    assert refused.value.field == "NAME"
    with pytest.raises(BadInput):
        revoke_partner(broker.settings, name)


def test_a_partner_password_must_not_be_trivial(broker: SecureBroker) -> None:
    with pytest.raises(BadInput) as refused:
        provision_partner(broker.settings, f"acme-{uuid4().hex[:8]}", "short", ["orthopaedics"])
    assert refused.value.field == "password"
