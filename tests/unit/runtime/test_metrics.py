"""A worker's Prometheus metrics: names, labels, and no identifier in any of them."""

from __future__ import annotations

import re
import socket
import urllib.request
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from services.reporting.metrics import CaseGauges
from services.runtime.metrics import DEAD_LETTER_REASONS, WorkerMetrics, dead_letter_reason
from tests.fixtures import Desk, policy

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def samples(metrics: WorkerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_every_worker_renders_the_common_metrics_with_their_labels(tmp_path: Path) -> None:
    text = generate_latest(WorkerMetrics("records").registry).decode()
    for name in ("cases_events_processed_total", "cases_events_redelivered_total",
                 "cases_events_published_total", "cases_dead_letters_total",
                 "cases_processing_seconds", "cases_consumer_lag", "cases_relay_backlog",
                 "cases_consumer_replacements_total"):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
    got = samples(WorkerMetrics("records"))
    assert got[("cases_events_published_total", (("service", "records"),))] == 0
    assert got[("cases_relay_backlog", (("service", "records"),))] == 0
    assert got[("cases_consumer_replacements_total", (("service", "records"),))] == 0
    for reason in DEAD_LETTER_REASONS:
        assert got[("cases_dead_letters_total", (("reason", reason), ("service", "records")))] == 0
    # Only review runs the SLA clock and only reporting holds the views.
    assert "cases_sla_breaches_flagged" not in text and "cases_open_cases" not in text
    desk = Desk(tmp_path)
    try:
        review = WorkerMetrics("review", desk.rt.review.register_metrics)
        reporting = WorkerMetrics("reporting", desk.rt.reporting.register_metrics)
        assert "cases_sla_breaches_flagged_total" in generate_latest(review.registry).decode()
        assert "cases_open_cases" in generate_latest(reporting.registry).decode()
        assert "cases_open_cases" not in generate_latest(review.registry).decode()
    finally:
        desk.close()


def test_counting_real_events_labels_them_by_type_never_by_case(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open()
    desk.to_review(case)
    events = desk.rt.reporting.views.audit_trail(case)
    state = desk.state(case)
    metrics = WorkerMetrics("reporting")
    for event in events:
        metrics.event_processed(event, 0.003)
    metrics.dead_lettered(f"reaction failed: KeyError: '{case}'")

    text = generate_latest(metrics.registry).decode()
    assert str(case) not in text and str(case).replace("-", "") not in text
    assert state.get("member_ref") is None or str(state["member_ref"]) not in text
    assert not UUID_RE.search(text)
    got = samples(metrics)
    for event in events:
        key = ("cases_events_processed_total", (("service", "reporting"), ("type", event.type_name)))
        assert got[key] == sum(1 for e in events if e.type_name == event.type_name)
    assert got[("cases_processing_seconds_count", (("service", "reporting"),))] == len(events)
    assert got[("cases_processing_seconds_bucket", (("le", "0.005"), ("service", "reporting")))] \
        == len(events)


def test_an_unknown_event_type_is_counted_as_other() -> None:
    class Odd:
        type_name = "9b2f1c4e-case-specific"

    metrics = WorkerMetrics("records")
    metrics.event_processed(Odd(), 0.01)
    assert samples(metrics)[("cases_events_processed_total",
                             (("service", "records"), ("type", "other")))] == 1


def test_dead_letter_reasons_are_bucketed_into_a_fixed_set() -> None:
    # The consumer's own reason texts (services/runtime/kafka/consumer.py).
    assert dead_letter_reason("missing or malformed source_service/notification_id header") \
        == "missing_header"
    assert dead_letter_reason("undecodable: JSONDecodeError") == "undecodable"
    assert dead_letter_reason("undecodable: UnknownEventType") == "undecodable"
    assert dead_letter_reason("reaction failed: ValueError: case 1234 has no policy") \
        == "reaction_failed"
    assert dead_letter_reason("something else entirely: 1234") == "other"

    metrics = WorkerMetrics("review")
    for reason in ("undecodable: JSONDecodeError", "undecodable: KeyError",
                   "reaction failed: RuntimeError: boom 42", "who knows"):
        metrics.dead_lettered(reason)
    dead = {dict(labels)["reason"]: value for (name, labels), value in samples(metrics).items()
            if name == "cases_dead_letters_total"}
    assert dead == {"missing_header": 0, "undecodable": 2, "reaction_failed": 1, "other": 1}


def test_gauges_lag_backlog_and_case_views() -> None:
    gauges: list[CaseGauges] = []
    metrics = WorkerMetrics("reporting", lambda registry: gauges.append(CaseGauges(registry)))
    metrics.consumer_lag({("cases.intake", 0): 5, ("cases.intake", 1): 0})
    metrics.relay_backlog(7)
    metrics.events_published(3)
    gauges[0].update({"awaiting_consent": 2, "in_review": 1, "closed": 4},
                       [{"status": "in_review", "sla_breached": True},
                        {"status": "closed", "sla_breached": True},
                        {"status": "awaiting_consent", "sla_breached": False}])
    got = samples(metrics)
    assert got[("cases_consumer_lag",
                (("partition", "0"), ("service", "reporting"), ("topic", "cases.intake")))] == 5
    assert got[("cases_relay_backlog", (("service", "reporting"),))] == 7
    assert got[("cases_events_published_total", (("service", "reporting"),))] == 3
    assert got[("cases_open_cases", (("status", "awaiting_consent"),))] == 2
    assert got[("cases_open_cases", (("status", "in_review"),))] == 1
    assert got[("cases_open_cases", (("status", "suspended"),))] == 0
    assert ("cases_open_cases", (("status", "closed"),)) not in got  # finished, not open
    assert got[("cases_sla_breached_open_cases", ())] == 1

    # A status no case holds any more falls back to 0 rather than keeping its last value.
    gauges[0].update({"in_review": 3}, [])
    got = samples(metrics)
    assert got[("cases_open_cases", (("status", "awaiting_consent"),))] == 0
    assert got[("cases_open_cases", (("status", "in_review"),))] == 3


def test_review_counts_breaches_its_clock_flags(tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    try:
        metrics = WorkerMetrics("review", desk.rt.review.register_metrics)
        desk.load_policies(policy())
        case = desk.open()
        desk.to_review(case)
        assert desk.rt.review.on_timer(desk.clock.now()) == 0
        desk.later(days=30)
        assert desk.rt.review.on_timer(desk.clock.now()) == 1
        assert samples(metrics)[("cases_sla_breaches_flagged_total", (("service", "review"),))] == 1
    finally:
        desk.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_exporter_serves_its_own_registry_and_port_zero_serves_nothing() -> None:
    assert WorkerMetrics("intake").serve(0) == 0
    one, two = WorkerMetrics("intake"), WorkerMetrics("records")
    try:
        port_one = one.serve(free_port(), addr="127.0.0.1")
        port_two = two.serve(free_port(), addr="127.0.0.1")
        one.events_published(4)
        body = urllib.request.urlopen(f"http://127.0.0.1:{port_one}/metrics", timeout=5).read().decode()
        assert 'cases_events_published_total{service="intake"} 4.0' in body
        assert 'service="records"' not in body
        body = urllib.request.urlopen(f"http://127.0.0.1:{port_two}/metrics", timeout=5).read().decode()
        assert 'cases_events_published_total{service="records"} 0.0' in body
    finally:
        one.close()
        two.close()


def test_a_partition_no_longer_held_leaves_the_lag_gauge() -> None:
    metrics = WorkerMetrics("records")
    metrics.consumer_lag({("cases.intake.v1", 0): 4, ("cases.intake.v1", 1): 2})
    metrics.consumer_lag({("cases.intake.v1", 0): 1})  # partition 1 went to another instance
    lags = {labels: value for (name, labels), value in samples(metrics).items() if name == "cases_consumer_lag"}
    assert lags == {(("partition", "0"), ("service", "records"), ("topic", "cases.intake.v1")): 1}
