"""Waiting for the Kafka workers to settle after a command.

After a command, `pump()` waits until the deployment is quiet (every outbox published,
every consumer group caught up), so what the command prints includes what the services
did in response: the same read-your-writes the embedded pipeline gives.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping, Sequence

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from events.topics import case_topic
from services.common.errors import ServiceUnavailable
from services.runtime.application import ServiceApplication
from services.runtime.kafka.config import CLI_PRINCIPAL, KafkaSettings
from services.runtime.kafka.consumer import group_id
from services.runtime.kafka.outbox import relay_name


class WorkersNotSettled(ServiceUnavailable):
    """The workers did not catch up in time: are all four `cases worker` running?"""


def reachable(server: str, timeout: float = 2.0) -> bool:
    host, _, port = server.rpartition(":")
    try:
        with socket.create_connection((host or server, int(port or 9092)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


class KafkaSettle:
    def __init__(self, services: Mapping[str, ServiceApplication], pipes: Sequence[tuple[str, str]],
                 settings: KafkaSettings, settle_timeout: float = 60.0):
        self.services = services
        self.pipes = tuple(pipes)
        self.settings = settings
        self.settle_timeout = settle_timeout
        if not any(reachable(server) for server in settings.bootstrap_servers):
            # Before anything is recorded, and in seconds: the clients' own probes take 30 s.
            raise ServiceUnavailable(f"no Kafka broker answers at {settings.bootstrap}")
        try:
            self.admin = KafkaAdminClient(**settings.client_config(CLI_PRINCIPAL), client_id="cases-cli")
            self.offsets = KafkaConsumer(**settings.client_config(CLI_PRINCIPAL), client_id="cases-cli")
        except KafkaError:
            raise ServiceUnavailable(f"no Kafka broker at {settings.bootstrap}") from None

    def pump(self) -> int:
        """Wait until two looks in a row find nothing left to publish or to consume."""
        deadline = time.monotonic() + self.settle_timeout
        quiet_looks = 0
        while quiet_looks < 2:
            if time.monotonic() > deadline:
                raise WorkersNotSettled(self.lagging())
            try:
                busy = self.lagging()
            except KafkaError:  # the broker went away mid-wait: not settled, say so
                raise WorkersNotSettled("the broker stopped answering") from None
            if busy:
                quiet_looks = 0
                time.sleep(0.01)
            else:
                quiet_looks += 1
        return 0

    def lagging(self) -> str:
        """What is still in flight, or '' when the deployment is quiet."""
        for name, app in self.services.items():
            published = app.recorder.max_tracking_id(relay_name(case_topic(name))) or 0
            if (app.recorder.max_notification_id() or 0) > published:
                return f"{name}'s outbox has unpublished events"
        for name in self.services:
            partitions = [TopicPartition(case_topic(leader), p)
                          for leader, follower in self.pipes if follower == name
                          for p in self.offsets.partitions_for_topic(case_topic(leader)) or ()]
            ends = self.offsets.end_offsets(partitions)
            committed = self.admin.list_group_offsets([group_id(name)]).get(group_id(name), {})
            for tp in partitions:
                done = committed.get(tp)
                if ends[tp] > (done.offset if done and done.offset >= 0 else 0):
                    return f"{name} has not consumed {tp.topic}[{tp.partition}]"
        return ""

    def close(self) -> None:
        self.offsets.close()
        self.admin.close()
