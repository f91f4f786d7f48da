"""`cases demo --partners`: a third-party case answered by the example partner, over Kafka.

The walk a new user would do by hand, step by step with the same `cases` commands (each its
own process, against the running workers), while the example partner of examples/partner/
runs as its own process with the partner's credentials: the partner is added, a third-party
case is opened and taken to review, its pseudonymised pack goes to the partner's topic, the
partner's opinion comes back through review's gateway, and the report goes out.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from services.cli import presenters
from services.cli.partner_kit import ROOT, start_client
from services.common.errors import ServiceUnavailable
from services.runtime.kafka.config import CLI_PRINCIPAL, KafkaSettings

PARTNER = "demo-experts"
SPECIALTY = "orthopaedics"  # examples/case.json
WORKERS = ("intake", "records", "review", "reporting")
OPINION_WITHIN = 120.0  # seconds: the pack's round trip through two workers and the partner


def run_partner_demo(home: Path, settings: KafkaSettings, *, quiet: bool) -> dict[str, Any]:
    missing = workers_missing(settings)
    if missing:
        raise ServiceUnavailable(
            f"the {', '.join(missing)} worker(s) are not running; --partners needs all four over Kafka: "
            f"run `cases worker NAME --home {home}` for each of {', '.join(WORKERS)} (CASES_BUS set), "
            "then this again")
    walk = Walk(home, settings, quiet)
    password = walk.password_file()
    walk.cases("partner", "add", PARTNER, "--specialties", SPECIALTY, "--password-file", str(password),
               say=f"Partner {PARTNER} added: its topics, its SCRAM user partner-{PARTNER} and its ACLs")
    walk.cases("policies", "load", str(ROOT / "examples" / "policies.json"), say="Policy register loaded")
    client = start_client(PARTNER, settings.bootstrap, password if settings.secured else None,
                          home / "partners" / PARTNER / "kit", once=False, stdout=subprocess.PIPE,
                          stderr=walk.log("partner-client.log"))
    walk.say(f"Example partner started as its own process (pid {client.pid}), reading "
             f"partner.{PARTNER}.requests.v1 as partner-{PARTNER}")
    try:
        case = walk.third_party_case()
        opinion = walk.wait_for_opinion(case)
        delivered = walk.cases("report", "deliver", case, say="Report delivered to the member")
    finally:
        client.send_signal(signal.SIGTERM)  # it commits what it answered and prints its tally
        out, _ = client.communicate(timeout=60)
    tally = json.loads(out or b"{}")
    return {"partner": PARTNER, "case_id": case, "status": delivered["status"],
            "opinion": {k: opinion[k] for k in ("outcome", "reviewer", "submitted_on")},
            "pack_seen_by_partner": walk.pack_seen(), "partner_client": tally,
            "partner_log": str(walk.logs / "partner-client.log")}


def workers_missing(settings: KafkaSettings) -> list[str]:
    """The services whose consumer group has no live member (the workers use the consumer
    group protocol of KIP-848, which only librdkafka's admin client describes)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    config: dict[str, Any] = {"bootstrap.servers": settings.bootstrap}
    found = settings.credentials(CLI_PRINCIPAL)
    if found is not None:
        config.update({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
                       "sasl.username": found[0], "sasl.password": found[1]})
    admin = AdminClient(config)
    missing = []
    for service, future in admin.describe_consumer_groups([f"cases-{s}" for s in WORKERS],
                                                          request_timeout=10).items():
        try:
            if not future.result().members:
                missing.append(service.removeprefix("cases-"))
        except KafkaException:
            raise ServiceUnavailable(f"the broker at {settings.bootstrap} did not describe the workers' groups") from None
    return missing


class Walk:
    """The steps, each a `cases` command in its own process, said as they happen."""

    def __init__(self, home: Path, settings: KafkaSettings, quiet: bool):
        self.home, self.quiet = home, quiet
        self.env = {**os.environ, "CASES_BUS": f"kafka://{settings.bootstrap}"}
        self.logs = home / "partners" / PARTNER / "demo"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.started = time.time()

    def say(self, text: str) -> None:
        if not self.quiet:
            presenters.err.print(f"[demo --partners] {text}")

    def log(self, name: str) -> Any:
        return (self.logs / name).open("ab")

    def password_file(self) -> Path:
        """The partner's password, made once and kept (owner-only) so a re-run reuses it."""
        path = self.home / "partners" / PARTNER / "password"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(24) + "\n")
        return path

    def cases(self, *args: str, say: str = "") -> dict[str, Any]:
        done = subprocess.run([sys.executable, "-m", "services.cli", *args, "--home", str(self.home), "--json"],
                              capture_output=True, text=True, cwd=ROOT, env=self.env, timeout=300)
        if done.returncode != 0:
            raise ServiceUnavailable(f"`cases {' '.join(args[:2])}` exited {done.returncode}: "
                                     f"{done.stderr.strip()[-500:] or done.stdout.strip()[-500:]}")
        if say:
            self.say(say)
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def third_party_case(self) -> str:
        opened = self.cases("open", str(ROOT / "examples" / "case.json"))
        case = str(opened["case_id"])
        self.say(f"Case {case} opened: {opened['status']}, model {opened['model']}")
        self.cases("consent", "grant", case, "--scope", "records_access", say="Member consented to records access")
        for kind, source in (("imaging", "Radiology department"), ("clinical_letter", "Consultant's clinic")):
            self.cases("records", "add", case, "--kind", kind, "--source", source)
        self.cases("records", "complete", case, say="Records collected: imaging, clinical letter")
        shown = self.cases("consent", "grant", case, "--scope", "third_party_disclosure")
        review = self.cases("show", case).get("review") or {}
        self.say(f"Member consented to third-party disclosure: {shown['status']}, referred to "
                 f"{review.get('partner')} (respond by {(review.get('referral') or {}).get('respond_by')})")
        return case

    def wait_for_opinion(self, case: str) -> dict[str, Any]:
        deadline = time.monotonic() + OPINION_WITHIN
        while time.monotonic() < deadline:
            opinion = self.cases("show", case).get("opinion")
            if opinion:
                self.say(f"Opinion in from {opinion['reviewer']}: {opinion['outcome']}")
                return dict(opinion)
            time.sleep(1)
        raise ServiceUnavailable(f"no opinion from {PARTNER} within {OPINION_WITHIN:.0f} s: is the review "
                                 f"worker running? The partner's log: {self.logs / 'partner-client.log'}")

    def pack_seen(self) -> dict[str, Any] | None:
        """What the partner holds of the pack (its own copy): pseudonymised, no identifier."""
        packs = sorted((self.home / "partners" / PARTNER / "kit" / "packs").glob("*.json"),
                       key=lambda p: p.stat().st_mtime)
        if not packs:
            return None
        pack = json.loads(packs[-1].read_text())["request"]
        return {k: pack.get(k) for k in ("pack_id", "age_band", "outward_code", "nation", "specialty",
                                         "condition", "diagnosis_summary", "proposed_treatment", "records")}


def show(result: dict[str, Any]) -> None:
    opinion, tally = result["opinion"], result["partner_client"]
    presenters.say(f"Case {result['case_id']}: {result['status']}. {PARTNER} answered "
                   f"{opinion['outcome']} ({opinion['reviewer']}).")
    pack = result["pack_seen_by_partner"]
    if pack:
        presenters.say(f"The partner saw pack {pack['pack_id']}: age band {pack['age_band']}, "
                       f"{pack['outward_code']}, {pack['nation']}, {pack['specialty']}; "
                       f"diagnosis: {pack['diagnosis_summary']!r}; treatment: {pack['proposed_treatment']!r}")
    presenters.say(f"Example partner process: {tally.get('answered', 0)} answered, "
                   f"{tally.get('recalled', 0)} recalled, {tally.get('invalid', 0)} invalid. "
                   f"Its log: {result['partner_log']}")
