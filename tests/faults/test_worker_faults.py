"""Faults a running deployment meets every week, on a Kafka broker of this module's own:
a worker killed mid-batch, a relay killed between the broker's acknowledgement and its
saved position, the broker away for 20 s, a worker paused past its session timeout. Each
walk ends with no event lost, no effect doubled, every case as in a clean run, and
`cases verify` ok."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.support import (
    Cluster,
    assert_same_as_clean,
    clean_run,
    private_cluster,
    restart_when_dead,
    walk_over_kafka,
)
from tests.kafka_support import ROOT, Workers

PORT = 9392


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with private_cluster(ROOT / "var" / "infra-faults", PORT) as found:
        yield found


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return clean_run(tmp_path_factory.mktemp("clean") / "home")


def test_each_worker_killed_mid_batch_and_restarted(cluster: Cluster, clean: list[dict[str, Any]],
                                                    tmp_path: Path) -> None:
    workers: list[Workers] = []
    victims = {3: "intake", 6: "records", 9: "review", 12: "reporting"}

    def kill(number: int) -> None:
        # Right after a command was recorded: its consequences are on their way.
        if number in victims:
            workers[0].kill(victims[number])
            workers[0].start(victims[number])

    home = tmp_path / "home"
    running = walk_over_kafka(home, cluster, tmp_path / "logs", kill, extra=workers.append)
    assert all(running.values())  # each restarted worker carried on
    assert_same_as_clean(home, clean, cluster.bootstrap)


def test_relay_killed_between_acknowledgement_and_saved_position(
        cluster: Cluster, clean: list[dict[str, Any]], tmp_path: Path) -> None:
    workers: list[Workers] = []

    def arm(started: Workers) -> None:
        workers.append(started)
        started.processes["intake"].send_signal(signal.SIGTERM)
        started.processes["intake"].wait()
        # Dies (exit 70) once the broker acknowledged its first batch, position not saved.
        started.start("intake", env={"CASES_FAULT": "after_ack"})

    def crash_and_restart(number: int) -> None:
        if number == 1:  # the policies were recorded; intake's relay sends them and dies
            restart_when_dead(workers[0], "intake")

    home = tmp_path / "home"
    running = walk_over_kafka(home, cluster, tmp_path / "logs", crash_and_restart, extra=arm)
    assert running["intake"]
    assert_same_as_clean(home, clean, cluster.bootstrap)


def test_broker_stopped_for_20_seconds(cluster: Cluster, clean: list[dict[str, Any]],
                                       tmp_path: Path) -> None:
    workers: list[Workers] = []

    def outage(number: int) -> None:
        if number == 5:
            cluster.stop_for(20)

    home = tmp_path / "home"
    running = walk_over_kafka(home, cluster, tmp_path / "logs", outage, extra=workers.append)
    # Nobody restarted a worker: each rode the outage out by itself.
    assert all(running.values())
    assert_same_as_clean(home, clean, cluster.bootstrap)


def test_a_consumer_that_stops_fetching_is_replaced_and_the_walk_completes(
        cluster: Cluster, clean: list[dict[str, Any]], tmp_path: Path) -> None:
    """The client holds its partitions and silently fetches nothing more (seen once after
    a broker outage): the worker notices the group offset not moving with messages
    waiting, joins the group with a fresh consumer, and the walk ends as a clean one."""
    def stall_review(started: Workers) -> None:
        started.processes["review"].send_signal(signal.SIGTERM)
        started.processes["review"].wait()
        started.start("review", env={"CASES_FAULT": "stall_consumer", "CASES_CONSUMER_STALL_SECONDS": "5"})

    home = tmp_path / "home"
    running = walk_over_kafka(home, cluster, tmp_path / "logs", lambda number: None, extra=stall_review)
    assert all(running.values())
    log = (tmp_path / "logs" / "review.log").read_text()
    assert "joining the group afresh" in log
    assert_same_as_clean(home, clean, cluster.bootstrap)


def test_worker_paused_past_its_session_timeout_and_resumed(
        cluster: Cluster, clean: list[dict[str, Any]], tmp_path: Path) -> None:
    workers: list[Workers] = []

    def second_records(started: Workers) -> None:
        workers.append(started)
        started.start("records", key="records-2")  # the group shares records' partitions

    def pause(number: int) -> None:
        if number == 4:
            process = workers[0].processes["records"]
            os.kill(process.pid, signal.SIGSTOP)
            time.sleep(15)  # the broker's session timeout is 6 s: records-2 takes over
            os.kill(process.pid, signal.SIGCONT)

    home = tmp_path / "home"
    running = walk_over_kafka(home, cluster, tmp_path / "logs", pause, extra=second_records)
    assert all(running.values())
    log = (tmp_path / "logs" / "records-2.log").read_text()
    assert log.count("records assigned") >= 2  # its first share, then the paused one's
    assert_same_as_clean(home, clean, cluster.bootstrap)


def test_three_reporting_instances_on_one_postgresql_store_share_the_partitions(
        cluster: Cluster, clean: list[dict[str, Any]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from kafka import KafkaConsumer, TopicPartition

    from events.topics import case_topic
    from services.bootstrap import build_service
    from tests.stores import store_environment

    workers: list[Workers] = []

    def scale_out(started: Workers) -> None:
        workers.append(started)
        for key in ("reporting-2", "reporting-3"):
            started.start("reporting", key=key)

    def kill_one(number: int) -> None:
        if number == 6:  # one that does not relay: the topic must hold each event once
            logs = tmp_path / "logs"
            victim = next(key for key in ("reporting-3", "reporting-2", "reporting")
                          if "took the relay" not in (logs / f"{key}.log").read_text())
            workers[0].kill(victim)

    home = tmp_path / "home"
    with store_environment("postgres") as env:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        running = walk_over_kafka(home, cluster, tmp_path / "logs", kill_one, env=env, extra=scale_out)
        assert list(running.values()).count(False) == 1  # the killed instance, and no other
        logs = {key: (tmp_path / "logs" / f"{key}.log").read_text()
                for key in ("reporting", "reporting-2", "reporting-3")}
        # Each instance was given a share of the nine partitions of reporting's group.
        assert all("reporting assigned ['cases." in text for text in logs.values())
        # Exactly one relay published reporting's outbox: each event once on the topic.
        reporting = build_service("reporting", home)
        consumer = KafkaConsumer(bootstrap_servers=cluster.bootstrap)
        try:
            partitions = [TopicPartition(case_topic("reporting"), p)
                          for p in consumer.partitions_for_topic(case_topic("reporting")) or ()]
            on_topic = sum(consumer.end_offsets(partitions).values())
            assert on_topic == reporting.recorder.max_notification_id()
        finally:
            consumer.close()
            reporting.close()
        assert_same_as_clean(home, clean, cluster.bootstrap)
