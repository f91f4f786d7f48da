"""Kafka settings: where the brokers are, how topics are laid out, and who a client is.

On a secured broker (`make kafka-up SECURE=1`) every client authenticates with SASL/SCRAM-
SHA-512 as its own principal. The credentials are provisioned by the project into a secrets
directory (env `CASES_KAFKA_SECRETS`, else `<repo>/var/infra/kafka/secrets`), one file per
principal, `<principal>.json` = {"username": ..., "password": ...}. The directory's `secure`
marker says the broker requires them; without it, clients connect in plaintext, so the same
commands work on both brokers with no extra flag.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

#: The principal each kind of client connects as (least privilege, see infra/kafka/acls.py).
SERVICE_PRINCIPALS = {
    "intake": "svc-intake",
    "records": "svc-records",
    "review": "svc-review",
    "reporting": "svc-reporting",
    "analytics": "svc-analytics",
}
#: The longest a worker waits for the broker to take what it sent (kafka-python's own flush
#: waits for the delivery timeout, two minutes). A worker blocked that long serves no
#: command, so a broker outage would make every command fail as "busy"; bounded, the send
#: fails, the worker backs off and sends the same batch again later.
FLUSH_TIMEOUT = 10.0
CLI_PRINCIPAL = "cases-cli"  # reads offsets and lag, the dead-letter topic, replay reads
ADMIN_PRINCIPAL = "admin"  # topics, users and ACLs: `cases partner add|remove`, provisioning


def secrets_dir() -> Path:
    configured = os.environ.get("CASES_KAFKA_SECRETS", "").strip()
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "var" / "infra" / "kafka" / "secrets"


class MissingCredentials(RuntimeError):
    """The broker is secured but this client's credentials were not provisioned."""


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: list[str]
    partitions: int = 3
    replication_factor: int | None = None  # None: follows the broker count, at most 3

    @property
    def bootstrap(self) -> str:
        return ",".join(self.bootstrap_servers)

    @property
    def secured(self) -> bool:
        return (secrets_dir() / "secure").exists()

    def credentials(self, principal: str) -> tuple[str, str] | None:
        """(username, password) for `principal` on a secured broker, else None."""
        if not self.secured:
            return None
        path = secrets_dir() / f"{principal}.json"
        try:
            data = json.loads(path.read_text())
            return str(data["username"]), str(data["password"])
        except (OSError, ValueError, KeyError):
            raise MissingCredentials(
                f"the broker requires SASL/SCRAM and no credentials for {principal!r} were "
                f"provisioned in {secrets_dir()}") from None

    def client_config(self, principal: str) -> dict[str, Any]:
        """kafka-python (and aiokafka) keyword arguments: the brokers and, where the broker
        is secured, SASL/SCRAM-SHA-512 as `principal`."""
        config: dict[str, Any] = {"bootstrap_servers": self.bootstrap}
        found = self.credentials(principal)
        if found is not None:
            config.update(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                          sasl_plain_username=found[0], sasl_plain_password=found[1])
        return config


def bus_from_env() -> KafkaSettings | None:
    """`CASES_BUS=kafka://host:port[,host:port...]`, or None for the embedded runtime."""
    bus = os.environ.get("CASES_BUS", "").strip()
    if not bus:
        return None
    return parse_bus(bus)


def parse_bus(bus: str) -> KafkaSettings:
    url = urlparse(bus)
    if url.scheme != "kafka" or not url.netloc:
        raise ValueError(f"CASES_BUS must look like kafka://127.0.0.1:9092, not {bus!r}")
    servers = [s for s in url.netloc.split(",") if s]
    partitions = int(os.environ.get("CASES_PARTITIONS", "3"))
    replication = os.environ.get("CASES_REPLICATION")
    return KafkaSettings(servers, partitions, int(replication) if replication else None)
