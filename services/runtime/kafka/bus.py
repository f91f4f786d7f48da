"""The command line over Kafka: commands act on the owning service's store, exactly as
that service's own API would; the workers carry the consequences over the topics.

After a command, `pump()` waits until the deployment is quiet (every outbox published,
every consumer group caught up), so what the command prints includes what the services
did in response: the same read-your-writes the embedded runtime gives.
"""

from __future__ import annotations

import time
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from events.topics import case_topic
from services.common.context import Clock
from services.common.errors import ServiceUnavailable
from services.runtime.deployment import SERVICES, leaders_of
from services.runtime.embedded import Deployment
from services.runtime.kafka.config import KafkaSettings
from services.runtime.kafka.consumer import group_id
from services.runtime.kafka.outbox import relay_name


class WorkersNotSettled(ServiceUnavailable):
    """The workers did not catch up in time: are all four `cases worker` running?"""


class BusRuntime(Deployment):
    replays_from_stores = False  # replay reads what reporting built from the topics

    def __init__(self, home: Path, settings: KafkaSettings, clock: Clock | None = None,
                 settle_timeout: float = 60.0):
        super().__init__(home, clock)
        self.settings = settings
        self.settle_timeout = settle_timeout
        try:
            self.admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap, client_id="cases-cli")
            self.offsets = KafkaConsumer(bootstrap_servers=settings.bootstrap, client_id="cases-cli")
        except KafkaError:
            super().close()
            raise ServiceUnavailable(f"no Kafka broker at {settings.bootstrap}") from None

    def pump(self) -> int:
        """Wait until two looks in a row find nothing left to publish or to consume."""
        deadline = time.monotonic() + self.settle_timeout
        quiet_looks = 0
        while quiet_looks < 2:
            if time.monotonic() > deadline:
                raise WorkersNotSettled(self.lagging())
            if self.lagging():
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
        for name in SERVICES:
            partitions = [TopicPartition(case_topic(leader), p)
                          for leader in leaders_of(name)
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
        super().close()
