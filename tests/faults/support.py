"""Fault tests on real Kafka: brokers of their own, one shared walk, and a clean reference.

Each test module that stops brokers starts its own cluster (own CASES_INFRA_DIR and ports)
with infra/kafka/up.sh, never touching the shared broker other tests use. The walk is the
demo batch (services/simulation/demo.py: seeded, on a settable clock), so a run over Kafka
with faults can be compared with a clean embedded run of the same walk, case by case:
state (`cases show`), trail (`cases replay`) and consent history, ids aside.

Faults are injected from inside the walk: `FaultyBus.pump` (what every command does after
recording) calls the test's fault at a chosen command, then waits, as patiently as a
person would, until the deployment has settled again.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from services.bootstrap import SERVICES, BusRuntime
from services.common.errors import ServiceUnavailable
from services.runtime.kafka.config import parse_bus
from services.simulation.demo import run_demo
from tests.e2e.cli import Cases
from tests.e2e.test_parity import views
from tests.kafka_support import ROOT, Workers, _running_workers

CASES, SEED = 5, 6  # a seed whose cases stay in house: the simulated partner network runs only embedded
#: How long a pump waits for the deployment to settle after a fault, at most.
PATIENCE = 420.0


class Cluster:
    """A private KRaft cluster for one test module (infra/kafka/up.sh and down.sh)."""

    def __init__(self, infra_dir: Path, port: int, brokers: int = 1):
        self.env = {**os.environ, "CASES_INFRA_DIR": str(infra_dir), "KAFKA_PORT": str(port),
                    "KAFKA_CONTROLLER_PORT": str(port + 10000), "BROKERS": str(brokers)}
        self.infra_dir, self.port, self.brokers = infra_dir, port, brokers
        self.bootstrap = ",".join(f"127.0.0.1:{port + i}" for i in range(brokers))

    def up(self) -> None:
        done = subprocess.run(["bash", "infra/kafka/up.sh"], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]

    def down(self) -> None:
        subprocess.run(["bash", "infra/kafka/down.sh", "--wipe"], cwd=ROOT, env=self.env,
                       capture_output=True, text=True, timeout=300)

    def pid(self, node: int) -> int:
        return int((self.infra_dir / "kafka" / f"node-{node}" / "kafka.pid").read_text())

    def kill(self, node: int) -> None:
        """The node is gone at once, as with a power cut (SIGKILL)."""
        os.kill(self.pid(node), signal.SIGKILL)

    def stop_for(self, seconds: float) -> None:
        """Every node down (SIGTERM: a normal shutdown), then up again after `seconds`."""
        for node in range(1, self.brokers + 1):
            os.kill(self.pid(node), signal.SIGTERM)
        time.sleep(seconds)
        self.up()


@contextmanager
def private_cluster(infra_dir: Path, port: int, brokers: int = 1) -> Iterator[Cluster]:
    cluster = Cluster(infra_dir, port, brokers)
    cluster.down()  # whatever an interrupted run left behind
    cluster.up()
    try:
        yield cluster
    finally:
        cluster.down()


Fault = Callable[[int], None]  # called with the pump's number, before it waits


class FaultyBus(BusRuntime):
    """The command line's runtime over Kafka, with a fault injected at chosen pumps and a
    patient wait afterwards: a worker restarting or a broker coming back takes a while."""

    fault: Fault = staticmethod(lambda number: None)  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.pumps = 0

    def pump(self) -> int:
        self.pumps += 1
        type(self).fault(self.pumps)
        deadline = time.monotonic() + PATIENCE
        while True:
            try:
                return super().pump()
            except ServiceUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
                self._reconnect()

    def _reconnect(self) -> None:
        from services.runtime.kafka.bus import KafkaSettle

        assert self.kafka is not None
        try:
            fresh = KafkaSettle(self.services, self.kafka.pipes, self.settings, self.kafka.settle_timeout)
        except ServiceUnavailable:
            return
        self.kafka.close()
        self.kafka = fresh


def clean_run(home: Path) -> list[dict[str, Any]]:
    """The walk on the embedded runtime, with no fault: the reference."""
    run_demo(home, cases=CASES, seed=SEED, fresh=True, quiet=True)
    return views(home)


def walk_over_kafka(home: Path, cluster: Cluster, logs: Path, fault: Fault,
                    env: dict[str, str] | None = None,
                    extra: Callable[[Workers], None] | None = None) -> dict[str, bool]:
    """The same walk over Kafka with the four workers running, `fault` injected; returns
    once every command was recorded and the deployment settled (workers stopped then),
    with which worker processes were still running at the end of the walk."""
    settings = parse_bus(f"kafka://{cluster.bootstrap}")
    with _running_workers(home, cluster.bootstrap, logs, env) as workers:
        if extra is not None:
            extra(workers)
        FaultyBus.fault = staticmethod(fault)  # type: ignore[assignment]
        try:
            run_demo(home, cases=CASES, seed=SEED, fresh=False, quiet=True,
                     deployment=lambda h, clock: FaultyBus(h, settings, clock, settle_timeout=60))
        except Exception:
            print_worker_logs(logs)  # pytest shows them with the failure; CI keeps no files
            raise
        finally:
            FaultyBus.fault = staticmethod(lambda number: None)  # type: ignore[assignment]
        return {key: process.poll() is None for key, process in workers.processes.items()}


def print_worker_logs(logs: Path, lines: int = 60) -> None:
    """The last lines each worker logged of its own (the Kafka client's connection chatter
    left out), for a walk that did not settle."""
    for log in sorted(logs.glob("*.log")):
        own = [line for line in log.read_text(errors="replace").splitlines() if " cases." in line]
        print(f"== {log.name}, last {lines} of {len(own)} lines", *own[-lines:], sep="\n")


def assert_same_as_clean(home: Path, clean: list[dict[str, Any]], bootstrap: str) -> None:
    """No event lost, no effect doubled: every case's state, trail and consent history as
    in the clean run, and the hash chains and topics check out."""
    found, expected = to_the_second(views(home)), to_the_second(clean)
    assert len(found) == len(expected) == CASES
    for mine, theirs in zip(found, expected, strict=True):
        assert mine["state"] == theirs["state"], diff(mine["state"], theirs["state"])
        assert mine["trail"] == theirs["trail"]
        assert mine["consents"] == theirs["consents"]
    verified = Cases(home, env={"CASES_BUS": f"kafka://{bootstrap}"})("verify")
    assert verified.code == 0, verified.stdout + verified.stderr
    assert verified.json["ok"] is True, verified.stdout


FRACTION = re.compile(r"(T\d\d:\d\d:\d\d)\.\d+")


def to_the_second(value: Any) -> Any:
    """Times without their fraction. The demo's clock moves a millisecond each time it is
    read, and a command a fault made the walk send again (it was refused, nothing recorded)
    reads it once more; the events, their order and their seconds stay the same."""
    if isinstance(value, str):
        return FRACTION.sub(r"\1", value)
    if isinstance(value, dict):
        return {k: to_the_second(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(to_the_second(v) for v in value)
    return value


def diff(mine: dict[str, Any], theirs: dict[str, Any]) -> str:
    return "; ".join(f"{k}: {mine.get(k)!r} != {theirs.get(k)!r}"
                     for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k))


def worker_pid(workers: Workers, name: str) -> int:
    return workers.processes[name].pid


def restart_when_dead(workers: Workers, name: str, timeout: float = 120) -> None:
    """Wait for the worker to exit (a crash point fired), then start it again without it."""
    deadline = time.monotonic() + timeout
    while workers.processes[name].poll() is None:
        assert time.monotonic() < deadline, f"{name} never reached its crash point"
        time.sleep(0.1)
    workers.env.pop("CASES_FAULT", None)
    workers.start(name)


__all__ = ["SERVICES", "Cluster", "FaultyBus", "assert_same_as_clean", "clean_run", "private_cluster",
           "restart_when_dead", "walk_over_kafka", "worker_pid"]
