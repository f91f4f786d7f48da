"""Kafka settings: where the brokers are, and how topics are laid out."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlparse


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: list[str]
    partitions: int = 3
    replication_factor: int | None = None  # None: follows the broker count, at most 3

    @property
    def bootstrap(self) -> str:
        return ",".join(self.bootstrap_servers)


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
