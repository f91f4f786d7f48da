"""The partner kit over a real broker: the example partner as its own process (`cases partner
simulate`), first alone on its topics, then answering the services' third-party cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from events.asyncapi import EXAMPLES
from events.schema_export import PARTNER_DIR
from events.topics import DEADLETTER_TOPIC, SERVICES, partner_opinions_topic, partner_requests_topic
from services.runtime.kafka.access import revoke_partner
from services.runtime.kafka.config import ADMIN_PRINCIPAL
from tests import fixtures
from tests.e2e.cli import ROOT, Cases
from tests.kafka_support import Workers, exclusive_bus, kafka_bootstrap, running_workers
from tests.security.secure_bus import exclusive_secure_bus, reset_secure_bus, sasl, secure_broker


def read_all(bootstrap: str, topic: str, **client: Any) -> list[Any]:
    """Every message on the topic; `client`: kafka-python settings (credentials) if any."""
    consumer = KafkaConsumer(topic, **{"bootstrap_servers": bootstrap, **client}, auto_offset_reset="earliest",
                             consumer_timeout_ms=4000, group_id=None)
    try:
        return list(consumer)
    finally:
        consumer.close()


def valid(message: dict[str, Any]) -> bool:
    schema = json.loads((PARTNER_DIR / f"{message['type']}.v1.json").read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).is_valid(message)


def example(name: str, **changes: Any) -> dict[str, Any]:
    return {**json.loads(EXAMPLES[name]().model_dump_json()), "message_id": str(uuid.uuid4()), **changes}


@pytest.fixture
def lone_partner(tmp_path: Path) -> Iterator[tuple[str, str, Cases]]:
    """A partner's two topics on the plain broker, nothing else running."""
    bootstrap = kafka_bootstrap()
    name = f"kit-{uuid.uuid4().hex[:8]}"
    topics = [partner_requests_topic(name), partner_opinions_topic(name)]
    with exclusive_bus():
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cases-tests")
        try:
            admin.create_topics([NewTopic(t, 1, 1) for t in topics])
            yield name, bootstrap, Cases(tmp_path / "home", env={"CASES_BUS": f"kafka://{bootstrap}"})
        finally:
            admin.delete_topics(topics)
            admin.close()


def test_example_partner_answers_its_own_topic_and_survives_garbage(
        lone_partner: tuple[str, str, Cases], tmp_path: Path) -> None:
    name, bootstrap, cases = lone_partner
    pack, other = str(uuid.uuid4()), str(uuid.uuid4())
    request = example("review_requested", pack_id=pack)
    written = [request, request,  # the second is a redelivery: same message_id
               example("review_recalled", pack_id=other),
               example("opinion_rejected", pack_id=other)]
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for message in written:
        producer.send(partner_requests_topic(name), key=message["pack_id"].encode(), value=json.dumps(message).encode())
    for garbage in (b"not json", json.dumps({**request, "nhs_number": "9434765919"}).encode()):
        producer.send(partner_requests_topic(name), key=pack.encode(), value=garbage)
    producer.flush()
    producer.close()
    password = cases.write("partner.secret", "not-used-on-a-plain-broker")

    run = cases("partner", "simulate", name, "--password-file", password, "--once", "--idle", "3")
    assert run.code == 0, run.stderr
    assert run.json == {"partner": name, "answered": 1, "recalled": 1, "rejected": 1, "invalid": 2,
                        "duplicates": 1, "outcomes": {"confirmed": 1}}
    assert "9434765919" not in run.stderr

    answers = read_all(bootstrap, partner_opinions_topic(name))
    sent = [json.loads(m.value) for m in answers]
    assert [(m["type"], m["pack_id"]) for m in sent] == [("recall_acknowledged", other), ("opinion_given", pack)] \
        or [(m["type"], m["pack_id"]) for m in sent] == [("opinion_given", pack), ("recall_acknowledged", other)]
    assert all(valid(m) for m in sent)
    assert all(m.key.decode() == json.loads(m.value)["pack_id"] for m in answers)
    assert next(m for m in sent if m["type"] == "opinion_given")["reviewer"] == "Dr Example Reviewer"

    # Run again: its group committed what it read, so nothing is answered twice.
    again = cases("partner", "simulate", name, "--password-file", password, "--once", "--idle", "3")
    assert again.code == 0 and again.json["answered"] == 0 and again.json["recalled"] == 0
    assert len(read_all(bootstrap, partner_opinions_topic(name))) == 2


# -- with the four services, on the plain and the secured broker ------------------------------


@dataclass
class Deployment:
    """The four workers on one broker, the command line beside them, and how the test itself
    reads (as admin on the secured broker) and writes as the partner."""

    bootstrap: str
    cases: Cases
    inspector: dict[str, Any]
    partner: str
    secured: bool

    def as_partner(self, password: str) -> dict[str, Any]:
        if not self.secured:
            return {"bootstrap_servers": self.bootstrap}
        return sasl(self.bootstrap, f"partner-{self.partner}", password)

    def on_topic(self, topic: str) -> list[dict[str, Any]]:
        return [json.loads(m.value) for m in read_all(self.bootstrap, topic, **self.inspector)]


@pytest.fixture(params=["plain", "secured"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    home, logs = tmp_path / "home", tmp_path / "logs"
    name = f"kit-{uuid.uuid4().hex[:8]}"  # the secured broker keeps partners' ACLs between runs
    if request.param == "plain":
        bootstrap = kafka_bootstrap()
        with running_workers(home, bootstrap, logs):
            yield Deployment(bootstrap, Cases(home, env={"CASES_BUS": f"kafka://{bootstrap}"}), {}, name, False)
        return
    broker = secure_broker()
    monkeypatch.setenv("CASES_KAFKA_SECRETS", str(broker.secrets))
    env = {"CASES_KAFKA_SECRETS": str(broker.secrets)}
    with exclusive_secure_bus():
        reset_secure_bus(broker.settings)
        logs.mkdir()
        workers = Workers(home, broker.bootstrap, logs, env)
        try:
            for service in SERVICES:
                workers.start(service)
            yield Deployment(broker.bootstrap, Cases(home, env={**env, "CASES_BUS": f"kafka://{broker.bootstrap}"}),
                             broker.settings.client_config(ADMIN_PRINCIPAL), name, True)
        finally:
            workers.stop()
            revoke_partner(broker.settings, name)


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 120) -> Any:
    """Poll until `probe` finds something: the services work asynchronously over Kafka."""
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout} s")
        time.sleep(0.5)
    return found


def case_in_review(cases: Cases, partner: str) -> str:
    case = cases("open", cases.write("case.json", fixtures.request())).json["case_id"]
    for step in (("consent", "grant", case, "--scope", "records_access"),
                 ("records", "add", case, "--kind", "imaging", "--source", "Radiology"),
                 ("records", "complete", case),
                 ("consent", "grant", case, "--scope", "third_party_disclosure")):
        done = cases(*step)
        assert done.code == 0, (step, done.stdout, done.stderr)
    shown = cases("show", case).json
    assert shown["status"] == "in_review" and shown["review"]["partner"] == partner
    return case


def test_a_third_party_case_is_answered_by_the_example_partner_process(deployment: Deployment) -> None:
    cases, partner = deployment.cases, deployment.partner
    requests_topic, opinions_topic = partner_requests_topic(partner), partner_opinions_topic(partner)
    password = "a-partner-password-of-some-length"
    password_file = cases.write("partner.secret", password)
    assert cases("policies", "load", cases.write("policies.json", {"policies": [fixtures.policy()]})).code == 0
    added = cases("partner", "add", partner, "--specialties", "orthopaedics", "--password-file", password_file)
    assert added.code == 0, added.stderr
    assert (added.json["requests_topic"], added.json["secured"]) == (requests_topic, deployment.secured)

    answered, recalled = case_in_review(cases, partner), case_in_review(cases, partner)
    # The member withdraws the disclosure while the partner holds the pack: it is recalled.
    assert cases("consent", "withdraw", recalled, "--scope", "third_party_disclosure").code == 0

    def packs_and_recall() -> list[dict[str, Any]] | None:
        found = deployment.on_topic(requests_topic)
        kinds = sorted(m["type"] for m in found)
        return found if kinds == ["review_recalled", "review_requested", "review_requested"] else None

    requests = wait_for("two packs and a recall on the partner's topic", packs_and_recall)
    assert all(valid(m) for m in requests)
    recalled_pack = next(m["pack_id"] for m in requests if m["type"] == "review_recalled")
    answered_pack = next(m["pack_id"] for m in requests if m["pack_id"] != recalled_pack)
    assert answered not in json.dumps(requests) and recalled not in json.dumps(requests)

    # The example partner, its own process, with the partner's credentials (on the secured
    # broker it could read nothing else).
    run = cases("partner", "simulate", partner, "--password-file", password_file, "--once",
                "--idle", "4", "--think-seconds", "3")
    assert run.code == 0, run.stderr
    assert (run.json["answered"], run.json["recalled"], run.json["invalid"]) == (1, 1, 0)

    opinion = wait_for("the partner's opinion on the case", lambda: cases("show", answered).json["opinion"])
    assert (opinion["outcome"], opinion["reviewer"]) == ("confirmed", "Dr Example Reviewer")
    delivered = cases("report", "deliver", answered)
    assert delivered.code == 0 and delivered.json["status"] == "report_issued", delivered.stderr
    assert "partner_opinion_received" in [e["type"] for e in cases("replay", answered).json["events"]]
    wait_for("the recall acknowledged on the case", lambda: "recall_acknowledged" in [
        e["type"] for e in cases("replay", recalled).json["events"]])
    assert cases("show", recalled).json["opinion"] is None

    # The partner writes a bad opinion and one on the recalled pack: both are dead-lettered,
    # answered with opinion_rejected on its requests topic, and change nothing.
    bad = example("opinion_given", pack_id=answered_pack, outcome="looks fine")
    late = example("opinion_given", pack_id=recalled_pack)
    producer = KafkaProducer(**deployment.as_partner(password))
    for message in (bad, late):
        producer.send(opinions_topic, key=message["pack_id"].encode(), value=json.dumps(message).encode())
    producer.flush()
    producer.close()

    def rejections() -> dict[str, dict[str, Any]] | None:
        found = {m["rejected_message_id"]: m for m in deployment.on_topic(requests_topic)
                 if m["type"] == "opinion_rejected"}
        return found if {bad["message_id"], late["message_id"]} <= set(found) else None

    rejected = wait_for("opinion_rejected for both", rejections)
    assert all(valid(m) for m in rejected.values())
    assert rejected[bad["message_id"]]["reason"] == "invalid"
    assert "outcome" in rejected[bad["message_id"]]["detail"]
    assert rejected[late["message_id"]]["reason"] == "recalled"
    dead = [json.loads(m.value) for m in read_all(deployment.bootstrap, DEADLETTER_TOPIC, **deployment.inspector)
            if dict(m.headers).get("dlq_origin", b"").decode().startswith(opinions_topic)]
    assert {bad["message_id"], late["message_id"]} <= {m["message_id"] for m in dead}
    shown = cases("show", answered).json
    assert shown["status"] == "report_issued" and shown["opinion"]["outcome"] == "confirmed"
    assert cases("show", recalled).json["opinion"] is None


# -- the demo -----------------------------------------------------------------------------------


def test_demo_with_partners_shows_a_case_answered_by_the_example_partner(tmp_path: Path) -> None:
    bootstrap = kafka_bootstrap()
    home = tmp_path / "home"
    with running_workers(home, bootstrap, tmp_path / "logs"):
        done = subprocess.run([sys.executable, "-m", "services.cli", "demo", "--partners", "--home", str(home),
                               "--json"], capture_output=True, text=True, cwd=ROOT, timeout=900,
                              env={**os.environ, "PYTHONPATH": str(ROOT), "CASES_BUS": f"kafka://{bootstrap}"})
    assert done.returncode == 0, done.stderr[-3000:]
    shown = json.loads(done.stdout)
    assert shown["status"] == "report_issued"
    assert shown["opinion"]["reviewer"] == "Dr Example Reviewer" and shown["opinion"]["outcome"] == "confirmed"
    assert shown["partner_client"]["answered"] == 1
    # What the partner held: the pack, pseudonymised. examples/case.json's identifiers are not in it.
    pack = json.dumps(shown["pack_seen_by_partner"])
    assert shown["pack_seen_by_partner"]["age_band"] and shown["pack_seen_by_partner"]["outward_code"] == "SW1A"
    for identifier in ("Jane", "Doe", "9434765919", "1980-04-02", "SW1A 1AA", "jane@example.org", "07700900123",
                       "Smith", "High Street Surgery", "gp@example.org", shown["case_id"]):
        assert identifier not in pack, identifier
