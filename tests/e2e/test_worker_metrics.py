"""Every worker serves Prometheus metrics over HTTP while the four run on real Kafka."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from events.topics import case_topic
from services.bootstrap import SERVICES
from tests.e2e.cli import Cases
from tests.fixtures import policy, request
from tests.kafka_support import kafka_bootstrap, running_workers

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.status == 200
        return response.read().decode()


def parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def dead_letters(samples: Samples, service: str) -> float:
    return sum(v for (name, labels), v in samples.items()
               if name == "cases_dead_letters_total" and ("service", service) in labels)


def wait_for(port: int, ready: Callable[[Samples], bool], timeout: float = 45) -> tuple[str, Samples]:
    """Gauges refresh every few seconds; counters move as the workers catch up."""
    deadline = time.monotonic() + timeout
    while True:
        text = scrape(port)
        samples = parse(text)
        if ready(samples) or time.monotonic() > deadline:
            return text, samples
        time.sleep(0.5)


def test_each_worker_serves_its_metrics_without_identifiers(tmp_path: Path) -> None:
    bootstrap = kafka_bootstrap()
    home = tmp_path / "home"
    ports = dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True))
    env = {f"CASES_METRICS_PORT_{name.upper()}": str(port) for name, port in ports.items()}
    with running_workers(home, bootstrap, tmp_path / "logs", env=env):
        cases = Cases(home, env={"CASES_BUS": f"kafka://{bootstrap}"})
        poison = KafkaProducer(bootstrap_servers=bootstrap)
        poison.send(case_topic("intake"), key=b"x", value=b"{not json",
                    headers=[("source_service", b"intake"), ("notification_id", b"999999"),
                             ("type", b"case_opened"), ("event_id", b"e1")])
        poison.send(case_topic("intake"), key=b"z", value=b"{}")  # no headers at all
        poison.flush()
        poison.close()
        cases("policies", "load", cases.write("policies.json", {"policies": [policy()]}))
        opened = cases("open", cases.write("case.json", request()))
        case_id = opened.json["case_id"]
        assert cases("show", case_id).json["status"] == "awaiting_consent"

        scraped: dict[str, str] = {}
        text, records = wait_for(ports["records"], lambda s: value(
            s, "cases_events_processed_total", service="records", type="case_opened") >= 1
            and dead_letters(s, "records") >= 2)
        scraped["records"] = text
        assert value(records, "cases_events_processed_total", service="records",
                     type="case_opened") >= 1
        assert value(records, "cases_processing_seconds_count", service="records") >= 1
        assert value(records, "cases_events_published_total", service="records") >= 1
        assert value(records, "cases_dead_letters_total", service="records",
                     reason="undecodable") == 1
        assert value(records, "cases_dead_letters_total", service="records",
                     reason="missing_header") == 1
        assert value(records, "cases_dead_letters_total", service="records",
                     reason="reaction_failed") == 0

        text, intake = wait_for(ports["intake"], lambda s: value(
            s, "cases_events_published_total", service="intake") >= 2 and any(
            name == "cases_consumer_lag" for name, _ in s))
        scraped["intake"] = text
        assert value(intake, "cases_events_published_total", service="intake") >= 2
        assert any(name == "cases_consumer_lag" and dict(labels)["topic"] == case_topic("reporting")
                   for name, labels in intake)
        assert value(intake, "cases_relay_backlog", service="intake") == 0

        text, review = wait_for(ports["review"], lambda s: value(
            s, "cases_events_processed_total", service="review", type="case_opened") >= 1
            and dead_letters(s, "review") >= 2)
        scraped["review"] = text
        assert value(review, "cases_sla_breaches_flagged_total", service="review") == 0
        assert value(review, "cases_dead_letters_total", service="review",
                     reason="undecodable") == 1

        text, reporting = wait_for(ports["reporting"], lambda s: value(
            s, "cases_open_cases", status="awaiting_consent") >= 1)
        scraped["reporting"] = text
        assert value(reporting, "cases_open_cases", status="awaiting_consent") == 1
        assert value(reporting, "cases_open_cases", status="in_review") == 0
        assert value(reporting, "cases_sla_breached_open_cases") == 0
        assert value(reporting, "cases_events_processed_total", service="reporting",
                     type="case_opened") >= 1
        lags = [v for (name, labels), v in reporting.items() if name == "cases_consumer_lag"]
        assert {dict(labels)["topic"] for (name, labels) in reporting
                if name == "cases_consumer_lag"} == {case_topic(s) for s in ("intake", "records", "review")}
        assert all(v >= 0 for v in lags)

        for name, text in scraped.items():
            assert case_id not in text, name
            assert case_id.replace("-", "") not in text, name
            assert f'service="{name}"' in text
