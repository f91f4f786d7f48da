"""The secured broker for the tests (`make test` starts one beside the plain one):
SASL/SCRAM-SHA-512 and ACLs, with the principals provisioned by infra/kafka/up.sh SECURE=1.

Which secrets a client uses is decided by CASES_KAFKA_SECRETS (config.py), so the tests set
it only while they run (the fixture in conftest.py); the rest of the suite keeps talking to
the plain broker.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer
from kafka import KafkaAdminClient

from services.bootstrap import SERVICES, leaders_of
from services.runtime.kafka.access import ANALYTICS, provision_services
from services.runtime.kafka.config import ADMIN_PRINCIPAL, KafkaSettings, parse_bus


@dataclass(frozen=True)
class SecureBroker:
    bootstrap: str
    secrets: Path

    @property
    def settings(self) -> KafkaSettings:
        return parse_bus(f"kafka://{self.bootstrap}")

    def password(self, principal: str) -> str:
        return str(json.loads((self.secrets / f"{principal}.json").read_text())["password"])


def secure_broker() -> SecureBroker:
    bootstrap = os.environ.get("CASES_TEST_SECURE_KAFKA", "")
    secrets = os.environ.get("CASES_TEST_SECURE_SECRETS", "")
    if not bootstrap or not secrets:  # never skipped: these tests are the proof of the ACLs
        pytest.fail("no secured Kafka broker for the tests: run `make test` (it starts one), or "
                    "start one (CASES_INFRA_DIR=var/infra-secure KAFKA_PORT=9192 "
                    "KAFKA_CONTROLLER_PORT=19192 SECURE=1 bash infra/kafka/up.sh) and set "
                    "CASES_TEST_SECURE_KAFKA=127.0.0.1:9192 "
                    "CASES_TEST_SECURE_SECRETS=var/infra-secure/kafka/secrets")
    if not (Path(secrets) / "secure").exists():
        pytest.fail(f"{secrets} holds no `secure` marker: is that broker started with SECURE=1?")
    return SecureBroker(bootstrap, Path(secrets).resolve())


def sasl(bootstrap: str, username: str, password: str) -> dict[str, Any]:
    """kafka-python settings for a client that brings its own credentials (a partner)."""
    return {"bootstrap_servers": bootstrap, "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": username,
            "sasl_plain_password": password}


def connection_errors(bootstrap: str, credentials: tuple[str, str] | None) -> list[str]:
    """What the broker answers a client connecting with these credentials (None: none at
    all), as librdkafka names it: [] when it is let in. librdkafka, because it reports a
    refused SASL exchange as such, where kafka-python only sees the socket close."""
    errors: list[str] = []
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "log_level": 0,
                              "error_cb": lambda error: errors.append(error.name())}
    if credentials is not None:
        config.update({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
                       "sasl.username": credentials[0], "sasl.password": credentials[1]})
    client = Consumer({**config, "group.id": "unused"})
    try:
        client.list_topics(timeout=5)
    except Exception:  # noqa: BLE001 - the refusal itself is reported through error_cb
        errors.append("no metadata")
    finally:
        client.close()
    return errors


@contextmanager
def exclusive_secure_bus() -> Iterator[None]:
    """One test session at a time uses the case topics of the secured broker."""
    with open("/tmp/cases-kafka-secure-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def all_leaders() -> dict[str, list[str]]:
    """Who reads whom, as up.sh provisions it (infra/kafka/provision.py)."""
    return {**{s: leaders_of(s) for s in SERVICES}, ANALYTICS: list(SERVICES)}


def reset_secure_bus(settings: KafkaSettings) -> None:
    """As admin: delete the case topics and the services' groups left by earlier tests, then
    provision again (the ACLs name the topics, so they outlive them)."""
    admin = KafkaAdminClient(client_id="cases-tests", **settings.client_config(ADMIN_PRINCIPAL))
    try:
        groups = [g["group_id"] for g in admin.list_groups() if g["group_id"].startswith("cases-")]
        if groups:
            admin.delete_groups(groups)
        topics = [t for t in admin.list_topics() if t.startswith("cases.")]
        if topics:
            admin.delete_topics(topics)
        deadline = time.monotonic() + 60
        while set(topics) & set(admin.list_topics()):
            if time.monotonic() > deadline:
                raise AssertionError("topics were not deleted")
            time.sleep(0.2)
    finally:
        admin.close()
    provision_services(settings, all_leaders())
