"""The analytics agent as its own process on a real Kafka broker, beside the four workers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from events.analytics import AnalyticsCaseFact, AnalyticsWeek
from events.codec import decode
from events.topics import ANALYTICS_TOPIC, ANALYTICS_WEEKLY_TOPIC, SERVICES, case_topic
from services.bootstrap import load_keys
from services.reporting.analytics.agent import APP_ID, CHANGELOG_TOPIC
from services.reporting.analytics.facts import analytics_fact, analytics_ref
from services.reporting.analytics.weekly import week_messages, weekly_aggregates
from services.reporting.projections.case_state import fold
from tests.e2e.cli import Cases
from tests.e2e.test_cli_walk import walk_third_party_case
from tests.fixtures import REQUEST, policy, request
from tests.kafka_support import ROOT, Workers, kafka_bootstrap, messages_on, running_workers

IDENTIFIERS = [
    REQUEST["member"]["name"], REQUEST["member"]["nhs_number"], REQUEST["member"]["date_of_birth"],
    REQUEST["member"]["postcode"], REQUEST["member"]["postcode"].replace(" ", ""),
    REQUEST["member"]["email"], REQUEST["member"]["phone"],
    REQUEST["gp"]["name"], REQUEST["gp"]["practice"], REQUEST["gp"]["email"],
]


class Agent:
    """`cases worker analytics` on the deployment's home and bus."""

    def __init__(self, home: Path, bootstrap: str, log: Path):
        self.home, self.bootstrap, self.log = home, bootstrap, log
        self.start()

    def start(self) -> None:
        self.log_at = len(self.output()) if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "worker", "analytics", "--home", str(self.home),
                 "--bus", f"kafka://{self.bootstrap}"],
                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.wait_ready()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while "analytics agent ready" not in self.output()[self.log_at:]:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"analytics agent did not start:\n{self.output()[-3000:]}")
            time.sleep(0.1)

    def since_start(self) -> str:
        return self.output()[self.log_at:]

    def stop(self, timeout: float = 20) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Workers, Cases, Agent]]:
    bootstrap = kafka_bootstrap()
    home = tmp_path / "home"
    with running_workers(home, bootstrap, tmp_path / "logs") as workers:
        agent = Agent(home, bootstrap, tmp_path / "logs" / "analytics.log")
        try:
            yield workers, Cases(home, env={"CASES_BUS": f"kafka://{bootstrap}"}), agent
        finally:
            agent.stop()


def facts_until(bootstrap: str, done: Callable[[list], bool], timeout: float = 60) -> list:
    """Every message on the analytics topic, read from the start until `done(messages)`."""
    consumer = KafkaConsumer(ANALYTICS_TOPIC, bootstrap_servers=bootstrap, group_id=None,
                             auto_offset_reset="earliest", fetch_max_wait_ms=100)
    messages: list = []
    deadline = time.monotonic() + timeout
    try:
        while not done(messages):
            if time.monotonic() > deadline:
                raise AssertionError(f"no expected fact in {len(messages)} analytics messages")
            for batch in consumer.poll(timeout_ms=500).values():
                messages.extend(batch)
    finally:
        consumer.close()
    return messages


def expected_fact(cases: Cases, bootstrap: str, case: str) -> AnalyticsCaseFact:
    """The fact the pure function gives for everything the case topics hold for the case,
    once they hold every event the case's replay shows."""
    replayed = len(cases("replay", case).json["events"])
    deadline = time.monotonic() + 30
    while len(events := case_events(bootstrap, case)) != replayed:
        assert time.monotonic() < deadline, f"{len(events)} on the topics, {replayed} replayed"
        time.sleep(0.5)
        replayed = len(cases("replay", case).json["events"])
    return analytics_fact(fold(events), load_keys(cases.home).analytics)


def case_events(bootstrap: str, case: str) -> list:
    """The case's events on the four case topics, read from the start to the current end."""
    topics = [case_topic(s) for s in SERVICES]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             auto_offset_reset="earliest")
    try:
        deadline = time.monotonic() + 30
        while any(not consumer.partitions_for_topic(t) for t in topics):
            assert time.monotonic() < deadline, "case topics not found"
            time.sleep(0.1)
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t)]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        end = consumer.end_offsets(tps)
        events = []
        while any(consumer.position(tp) < end[tp] for tp in tps):
            assert time.monotonic() < deadline, "case topics not read to their end"
            for batch in consumer.poll(timeout_ms=200).values():
                events += [decode(m.value) for m in batch if m.key == case.encode()]
        return events
    finally:
        consumer.close()


def of_case(messages: list, ref: str) -> list[AnalyticsCaseFact]:
    key = ref.encode()
    return [AnalyticsCaseFact.model_validate_json(m.value) for m in messages if m.key == key]


def test_the_agent_publishes_a_de_identified_fact_for_a_case(
    deployment: tuple[Workers, Cases, Agent],
) -> None:
    workers, cases, agent = deployment
    # A poison message on a case topic is skipped with a warning; the agent goes on.
    producer = KafkaProducer(bootstrap_servers=workers.bootstrap)
    producer.send(case_topic("intake"), key=b"x", value=b"{not json",
                  headers=[("source_service", b"intake"), ("notification_id", b"999999")])
    producer.flush()
    producer.close()

    case = walk_third_party_case(cases)
    ref = analytics_ref(case, load_keys(cases.home).analytics)
    expected = expected_fact(cases, workers.bootstrap, case)
    messages = facts_until(workers.bootstrap, lambda m: expected in of_case(m, ref))

    fact = next(f for f in reversed(of_case(messages, ref)) if f == expected)
    assert fact.analytics_ref == ref
    assert fact.status == "report_issued"
    assert fact.model == "third_party"
    assert (fact.insurer, fact.product) == ("AXA Health", "Personal Health")
    assert (fact.decision, fact.declined_reasons) == ("accepted", ())
    assert fact.outcome == "diagnosis_changed" and fact.sla_met is True
    assert fact.sla_breached is False and fact.working_days_to_opinion == 0
    assert (fact.specialty, fact.nation, fact.age_band) == ("orthopaedics", "ENG", "40-49")
    assert all(earlier.as_of <= fact.as_of for earlier in of_case(messages, ref)
               if earlier != fact)

    # Nothing on the topic names the member, the GP or the case.
    for message in messages:
        AnalyticsCaseFact.model_validate_json(message.value)
        assert dict(message.headers)["type"] == b"analytics_case_fact"
        headers = b"".join(value for _, value in message.headers)
        blob = (message.key + message.value + headers).decode().lower()
        for value in [*IDENTIFIERS, case, case.replace("-", "")]:
            assert value.lower() not in blob, value

    assert agent.process.poll() is None, agent.output()[-3000:]
    assert "skipped an undecodable message" in agent.output()
    assert "Traceback" not in agent.output()

    # `cases analytics` over Kafka aggregates the agent's facts; an analyst's consumer that
    # knows only the JSON Schema reads the same topic.
    weekly = cases("analytics").json
    assert weekly["cases"] == 1
    [week] = weekly["weeks"]
    assert (week["week"], week["opened"], week["accepted"], week["opinions"]) == (fact.week, 1, 1, 1)
    assert IDENTIFIERS[0] not in json.dumps(weekly)
    example = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "analytics_consumer.py"), "--bootstrap",
         workers.bootstrap], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert example.returncode == 0, example.stderr
    read = json.loads(example.stdout)
    assert read["cases"] == 1 and read["rejected"] == 0
    assert read["weeks"][fact.week]["diagnosis_changed"] == 1


def committed_offsets(bootstrap: str) -> int:
    """How many case messages the agent's group has committed, over every partition."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cases-tests")
    try:
        committed = admin.list_group_offsets({APP_ID: None}).get(APP_ID) or {}
        return sum(meta.offset for tp, meta in committed.items() if tp.topic.startswith("cases."))
    finally:
        admin.close()


def case_messages(bootstrap: str) -> int:
    """How many messages the four case topics hold."""
    return messages_on(bootstrap, [case_topic(s) for s in SERVICES])


def messages_read(log: str) -> int:
    return sum(int(n) for n in re.findall(r"read (\d+) case messages", log))


def latest_weeks(bootstrap: str, wanted: list[AnalyticsWeek], timeout: float = 60) -> dict:
    """The latest counts per week on the weekly topic, once they are `wanted`."""
    deadline = time.monotonic() + timeout
    while True:
        consumer = KafkaConsumer(ANALYTICS_WEEKLY_TOPIC, bootstrap_servers=bootstrap,
                                 group_id=None, auto_offset_reset="earliest",
                                 consumer_timeout_ms=2000)
        weeks = {m.key.decode(): AnalyticsWeek.model_validate_json(m.value) for m in consumer}
        consumer.close()
        if weeks == {w.week: w for w in wanted} or time.monotonic() > deadline:
            return weeks
        time.sleep(0.5)


def test_a_restarted_agent_resumes_where_it_stopped_and_finds_the_same_facts(
    deployment: tuple[Workers, Cases, Agent],
) -> None:
    workers, cases, agent = deployment
    bootstrap, key = workers.bootstrap, load_keys(cases.home).analytics

    def published(cases_: list[str]) -> list:
        """Every analytics message, once each case's latest fact is its expected one."""
        wanted = {analytics_ref(c, key): expected_fact(cases, bootstrap, c) for c in cases_}
        try:
            return facts_until(bootstrap, lambda m: all(
                of_case(m, ref) and of_case(m, ref)[-1] == fact for ref, fact in wanted.items()))
        except AssertionError as missed:
            raise AssertionError(f"{missed}; wanted {wanted}; agent log: "
                                 f"{agent.since_start()[-2000:]}") from None

    # Stream 1, agent up: a case walked to its report, another opened and consented.
    walked = walk_third_party_case(cases)
    second = cases("open", cases.write("case.json", request())).json["case_id"]
    assert cases("consent", "grant", second, "--scope", "records_access").code == 0
    before = published([walked, second])
    walked_ref = analytics_ref(walked, key)
    walked_facts = len(of_case(before, walked_ref))

    # SIGTERM; the stream goes on while the agent is down.
    agent.stop()
    committed = committed_offsets(bootstrap)
    assert committed > 0, "the agent committed no offsets"
    assert cases("records", "add", second, "--kind", "imaging", "--source", "Radiology").code == 0
    third = cases("open", cases.write("case.json", request())).json["case_id"]
    cases("policies", "load", cases.write("policies.json", {"policies": [policy(status="lapsed")]}))
    declined = cases("open", cases.write("case.json", request())).json["case_id"]

    agent.start()
    assert (f"analytics agent resumed: 2 cases restored from {CHANGELOG_TOPIC}, reading on after "
            f"the {committed} case messages its group had committed") in agent.since_start()
    published([walked, second, third, declined])  # the case topics hold all their events now
    # It read on from its committed offsets, not the topics from offset 0 ...
    on_topics = case_messages(bootstrap)
    assert on_topics > committed
    deadline = time.monotonic() + 30
    while messages_read(agent.since_start()) < on_topics - committed:
        assert time.monotonic() < deadline, agent.since_start()[-3000:]
        time.sleep(0.2)
    assert messages_read(agent.since_start()) == on_topics - committed
    # ... so a case it had folded already is not published again.
    assert len(of_case(published([walked]), walked_ref)) == walked_facts

    # SIGKILL just after a change, then more changes while it is down.
    assert cases("consent", "grant", third, "--scope", "records_access").code == 0
    agent.process.kill()
    agent.process.wait()
    assert cases("records", "complete", second).code == 0
    agent.start()
    assert "analytics agent resumed: 4 cases restored" in agent.since_start()

    # The same facts and weekly counts as an uninterrupted run: those the pure functions
    # give for everything on the case topics.
    everything = [walked, second, third, declined]
    messages = published(everything)
    expected = [expected_fact(cases, bootstrap, c) for c in everything]
    assert {m.key.decode(): AnalyticsCaseFact.model_validate_json(m.value) for m in messages} == {
        f.analytics_ref: f for f in expected}
    assert len(of_case(messages, walked_ref)) == walked_facts
    assert (expected[3].decision, expected[3].declined_reasons) == ("declined", ("policy_not_in_force",))
    weeks = week_messages(weekly_aggregates(expected))
    assert latest_weeks(bootstrap, weeks) == {w.week: w for w in weeks}
    weekly = cases("analytics").json
    assert weekly["cases"] == 4
    assert [w["opened"] for w in weekly["weeks"]] == [w.opened for w in weeks]
    assert agent.process.poll() is None and "Traceback" not in agent.output()
