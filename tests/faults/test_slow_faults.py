"""The long faults, each on a cluster of its own: the broker away for three minutes (longer
than a producer's delivery timeout, so every pending send fails at least once), and one of
three brokers (replication 3, min.insync.replicas 2) lost for good while commands go on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.faults.support import (
    assert_same_as_clean,
    clean_run,
    private_cluster,
    walk_over_kafka,
)
from tests.kafka_support import ROOT, Workers

pytestmark = pytest.mark.slow_faults


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return clean_run(tmp_path_factory.mktemp("clean") / "home")


def test_broker_stopped_for_three_minutes(clean: list[dict[str, Any]], tmp_path: Path) -> None:
    workers: list[Workers] = []
    with private_cluster(ROOT / "var" / "infra-faults-outage", 9492) as cluster:

        def outage(number: int) -> None:
            if number == 5:
                cluster.stop_for(180)

        home = tmp_path / "home"
        running = walk_over_kafka(home, cluster, tmp_path / "logs", outage, extra=workers.append)
        # No worker exited for good: each waited, retried, and carried on by itself.
        assert all(running.values())
        assert_same_as_clean(home, clean, cluster.bootstrap)


def test_three_brokers_one_lost_for_good_mid_walk(clean: list[dict[str, Any]], tmp_path: Path) -> None:
    workers: list[Workers] = []
    with private_cluster(ROOT / "var" / "infra-faults-three", 9592, brokers=3) as cluster:

        def lose_one(number: int) -> None:
            if number == 5:
                cluster.kill(2)  # never started again; the walk's commands go on

        home = tmp_path / "home"
        running = walk_over_kafka(home, cluster, tmp_path / "logs", lose_one, extra=workers.append)
        assert all(running.values())
        assert_same_as_clean(home, clean, cluster.bootstrap)
