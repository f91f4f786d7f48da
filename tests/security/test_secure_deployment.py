"""The whole deployment on the secured broker: the four workers, each as its own
principal with the credentials up.sh provisioned, and the command line as cases-cli, walk
a third-party case to report_issued; the analytics agent counts it. Nothing is passed but
where the secrets are."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from events.topics import SERVICES, case_topic
from services.runtime.kafka.config import CLI_PRINCIPAL
from tests.e2e.cli import Cases
from tests.e2e.test_cli_walk import walk_third_party_case
from tests.kafka_support import ROOT, Workers
from tests.security.secure_bus import SecureBroker, reset_secure_bus


def start_analytics(workers: Workers, log: Path, timeout: float = 90) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "worker", "analytics", "--home", str(workers.home),
             "--bus", f"kafka://{workers.bootstrap}"], stdout=out, stderr=subprocess.STDOUT,
            env=workers.env, cwd=ROOT)
    workers.processes["analytics"] = process  # stopped with the others
    deadline = time.monotonic() + timeout
    while "published" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the analytics agent published nothing:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return process


def test_a_case_walks_to_its_report_on_the_secured_broker(broker: SecureBroker, tmp_path: Path) -> None:
    reset_secure_bus(broker.settings)
    home, env = tmp_path / "home", {"CASES_KAFKA_SECRETS": str(broker.secrets)}
    (tmp_path / "logs").mkdir()
    workers = Workers(home, broker.bootstrap, tmp_path / "logs", env)
    try:
        for name in SERVICES:
            workers.start(name)
        cases = Cases(home, env={**env, "CASES_BUS": f"kafka://{broker.bootstrap}"})
        case = walk_third_party_case(cases)  # asserts report_issued, replay and as-of reads
        assert cases("show", case).json["status"] == "report_issued"
        verified = cases("verify")
        assert verified.code == 0 and verified.json["ok"], verified.json
        # Reporting's analytics agent (faust), as svc-analytics: its weekly counts reach the
        # command line.
        start_analytics(workers, tmp_path / "logs" / "analytics.log")
        assert cases("analytics").json["cases"] == 1
    finally:
        workers.stop()
    # Each service's events went out under its own principal, onto its own topic.
    reader = KafkaConsumer(**broker.settings.client_config(CLI_PRINCIPAL), group_id=None)
    try:
        for service in SERVICES:
            partitions = [TopicPartition(case_topic(service), p)
                          for p in reader.partitions_for_topic(case_topic(service)) or ()]
            assert sum(reader.end_offsets(partitions).values()) > 0, service
    finally:
        reader.close()
    logs = "".join((tmp_path / "logs" / f"{name}.log").read_text() for name in [*SERVICES, "analytics"])
    assert "AuthorizationFailed" not in logs and "SaslAuthenticationFailed" not in logs
