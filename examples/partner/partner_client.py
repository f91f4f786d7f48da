"""An example reviewer partner: reads its review requests from Kafka and answers them.

What a third-party expert network writes to plug in, knowing only the published contract
(events/schema/partner/: a JSON Schema per message and the AsyncAPI document). It imports
nothing from the insurer's code: kafka-python and jsonschema only.

    python examples/partner/partner_client.py --partner acme-experts \
        --password-file acme.secret [--bootstrap 127.0.0.1:9092] [--once --idle 10]

- With a password file it connects with SASL/SCRAM-SHA-512 as `partner-<NAME>`; without one,
  in plaintext (a development broker).
- It reads `partner.<NAME>.requests.v1` in the consumer group `partner.<NAME>.kit`. Each valid
  `review_requested` is kept (a copy of the pack in the work directory) and answered with an
  `opinion_given` on `partner.<NAME>.opinions.v1`; each `review_recalled` deletes the copy
  (answered or not) and is answered with `recall_acknowledged`; `opinion_rejected` is logged.
- Every message read or written is validated against its schema; an invalid one is logged by
  field (never its content) and skipped; a redelivered `message_id` is dropped.
- Runs until SIGTERM or SIGINT; with --once, until nothing arrived for --idle seconds. On
  exit it prints a JSON summary on stdout. Exit 2: bad arguments; 3: the broker refused or
  cannot be reached.

The outcome is derived from the pack by fixed rules, so a demo or a test knows what to expect:
no records -> inconclusive; an acute condition with imaging -> confirmed; a chronic condition
with a treatment plan -> alternative_treatment; otherwise -> diagnosis_changed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

DEFAULT_SCHEMAS = Path(__file__).resolve().parents[2] / "events" / "schema" / "partner"
TO_PARTNER = ("review_requested", "review_recalled", "opinion_rejected")
FROM_PARTNER = ("opinion_given", "recall_acknowledged")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,40}$")
#: Answers get ids derived from the message they answer, so an answer re-sent after a crash
#: carries the same message_id and the insurer drops the second copy.
ANSWER_IDS = uuid.UUID("8a3e4f6c-2b1d-4e5f-9a7b-c1d2e3f4a5b6")

#: With --once, how long to wait for the group to hand out the requests topic's partitions.
ASSIGN_WITHIN = 60

log = logging.getLogger("partner")


class Usage(Exception):
    """Bad arguments: exit 2, naming the option."""


class Schemas:
    """The published JSON Schemas, one validator per wire type."""

    def __init__(self, folder: Path):
        self.validators: dict[str, jsonschema.Draft202012Validator] = {}
        for name in (*TO_PARTNER, *FROM_PARTNER):
            path = folder / f"{name}.v1.json"
            try:
                schema = json.loads(path.read_text())
            except (OSError, ValueError):
                raise Usage(f"--schemas: cannot read {path}") from None
            self.validators[name] = jsonschema.Draft202012Validator(
                schema, format_checker=jsonschema.FormatChecker())

    def problem(self, message: Any, allowed: Iterable[str]) -> str | None:
        """Why `message` is not a valid message of the allowed types, naming the field and
        the rule broken but never the value (it may be health data), or None."""
        if not isinstance(message, dict):
            return "message: not a JSON object"
        kind = message.get("type")
        if kind not in allowed:
            return "type: not a message this topic carries"
        error = jsonschema.exceptions.best_match(self.validators[kind].iter_errors(message))
        if error is None:
            return None
        where = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "required":
            missing = [f for f in error.validator_value if f not in error.instance]
            return f"{'.'.join(filter(None, [where, *missing[:1]]))}: missing"
        if error.validator == "additionalProperties":
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            return f"{'.'.join(filter(None, [where, *extra[:1]]))}: not a field of {kind}"
        return f"{where or 'message'}: fails {error.validator}"


@dataclass
class Tally:
    answered: int = 0
    recalled: int = 0
    rejected: int = 0
    invalid: int = 0
    duplicates: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


class Partner:
    """The partner's desk, apart from Kafka: what to send for each message read. Its copies of
    packs and the ids it has seen live in the work directory, so a restart neither loses a
    pack nor answers one twice."""

    def __init__(self, name: str, schemas: Schemas, work_dir: Path, reviewer: str, think_seconds: float):
        self.name, self.schemas, self.reviewer, self.think = name, schemas, reviewer, think_seconds
        self.packs = work_dir / "packs"
        self.packs.mkdir(parents=True, exist_ok=True)
        self.seen_file = work_dir / "seen"
        self.seen = set(self.seen_file.read_text().split()) if self.seen_file.exists() else set()
        self.tally = Tally()
        # pack id -> (when to answer, the request); packs kept but not yet answered
        self.pending: dict[str, tuple[float, dict[str, Any]]] = {}
        for path in sorted(self.packs.glob("*.json")):
            kept = json.loads(path.read_text())
            if not kept["answered"]:
                self.pending[path.stem] = (time.monotonic() + self.think, kept["request"])

    def read(self, raw: bytes | None, where: str) -> list[dict[str, Any]]:
        """One message from the requests topic -> the answers to send (usually none now:
        a pack is answered once its think time is over, see `due`)."""
        try:
            message = json.loads(raw or b"")
        except (ValueError, UnicodeDecodeError):
            return self._invalid(where, "message: not JSON")
        problem = self.schemas.problem(message, TO_PARTNER)
        if problem:
            return self._invalid(where, problem)
        if message["message_id"] in self.seen:
            self.tally.duplicates += 1
            log.info("dropped a redelivered %s (pack %s)", message["type"], message["pack_id"])
            return []
        answers = getattr(self, "_" + message["type"])(message)
        self._remember(message["message_id"])
        return answers

    def due(self, now: float | None = None) -> list[dict[str, Any]]:
        """The opinions whose think time is over."""
        now = time.monotonic() if now is None else now
        answers = []
        for pack_id, (when, request) in sorted(self.pending.items()):
            if when <= now:
                del self.pending[pack_id]
                answers.append(self._opinion(request))
        return answers

    def _review_requested(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        pack_id = request["pack_id"]
        if (self.packs / f"{pack_id}.json").exists():
            log.info("pack %s: requested again; already held", pack_id)
            return []
        self._keep(pack_id, request, answered=False)
        self.pending[pack_id] = (time.monotonic() + self.think, request)
        log.info("pack %s: received (%s, respond by %s)", pack_id, request["specialty"], request["respond_by"])
        return []

    def _review_recalled(self, recall: dict[str, Any]) -> list[dict[str, Any]]:
        pack_id = recall["pack_id"]
        self.pending.pop(pack_id, None)
        (self.packs / f"{pack_id}.json").unlink(missing_ok=True)
        self.tally.recalled += 1
        log.info("pack %s: recalled (%s); copy destroyed, acknowledging", pack_id, recall["reason"])
        return [{"type": "recall_acknowledged", "schema_version": 1,
                 "message_id": answer_id(self.name, "ack", recall["message_id"]),
                 "pack_id": pack_id, "acknowledged_at": utc_now()}]

    def _opinion_rejected(self, rejection: dict[str, Any]) -> list[dict[str, Any]]:
        self.tally.rejected += 1
        log.warning("pack %s: the insurer rejected our message %s: %s (%s)", rejection["pack_id"],
                    rejection.get("rejected_message_id"), rejection["reason"], rejection["detail"])
        return []

    def _opinion(self, request: dict[str, Any]) -> dict[str, Any]:
        outcome, summary = assess(request)
        self._keep(request["pack_id"], request, answered=True)
        self.tally.answered += 1
        self.tally.outcomes[outcome] = self.tally.outcomes.get(outcome, 0) + 1
        log.info("pack %s: answered %s", request["pack_id"], outcome)
        return {"type": "opinion_given", "schema_version": 1,
                "message_id": answer_id(self.name, "opinion", request["message_id"]),
                "pack_id": request["pack_id"], "outcome": outcome, "summary": summary,
                "reviewer": self.reviewer, "given_at": utc_now()}

    def _keep(self, pack_id: str, request: dict[str, Any], *, answered: bool) -> None:
        path = self.packs / f"{pack_id}.json"
        path.write_text(json.dumps({"answered": answered, "request": request}))

    def _remember(self, message_id: str) -> None:
        self.seen.add(message_id)
        with self.seen_file.open("a") as out:
            out.write(message_id + "\n")

    def _invalid(self, where: str, problem: str) -> list[dict[str, Any]]:
        self.tally.invalid += 1
        log.warning("skipped an invalid message at %s: %s", where, problem)
        return []


def assess(pack: dict[str, Any]) -> tuple[str, str]:
    """A stand-in for the expert's work: a fixed outcome from what the pack holds. The summary
    repeats only the pack's coded facts, never its free text."""
    kinds = sorted({r["kind"] for r in pack["records"]})
    condition = pack["condition"]
    if not kinds:
        outcome, why = "inconclusive", "No records came with the pack; the diagnosis cannot be assessed."
    elif condition["nature"] == "acute" and "imaging" in kinds:
        outcome, why = "confirmed", "The imaging supports the diagnosis and the proposed treatment."
    elif condition["nature"] == "chronic" and "treatment_plan" in kinds:
        outcome, why = "alternative_treatment", "A conservative plan should be tried before the proposed treatment."
    else:
        outcome, why = "diagnosis_changed", "The records point to a different working diagnosis."
    coded = f"{condition['name']}" + (f" ({condition['icd10']})" if condition.get("icd10") else "")
    summary = (f"{coded}, {condition['nature']}, age band {pack['age_band']}, {pack['specialty']}: "
               f"reviewed {len(pack['records'])} record(s) ({', '.join(kinds) or 'none'}). {why}")
    return outcome, summary


def answer_id(partner: str, kind: str, answered_message_id: str) -> str:
    return str(uuid.uuid5(ANSWER_IDS, f"{partner}:{kind}:{answered_message_id}"))


def utc_now() -> str:
    return datetime.now(UTC).isoformat()


# -- Kafka ------------------------------------------------------------------------------------


def security(args: argparse.Namespace) -> dict[str, Any]:
    """kafka-python settings: SCRAM as partner-<NAME> when a password file is given."""
    if not args.password_file:
        return {"security_protocol": "SSL", "ssl_cafile": args.ssl_cafile} if args.ssl_cafile else {}
    try:
        password = Path(args.password_file).read_text().strip("\r\n")  # as `cases partner add` reads it
    except OSError as error:
        raise Usage(f"--password-file: cannot read it ({error.strerror})") from None
    if not password:
        raise Usage("--password-file: the file is empty")
    config: dict[str, Any] = {"security_protocol": "SASL_SSL" if args.ssl_cafile else "SASL_PLAINTEXT",
                              "sasl_mechanism": "SCRAM-SHA-512",
                              "sasl_plain_username": f"partner-{args.partner}",
                              "sasl_plain_password": password}
    if args.ssl_cafile:
        config["ssl_cafile"] = args.ssl_cafile
    return config


class Unavailable(Exception):
    """The broker cannot be used as this partner: exit 3."""


class Stop:
    """SIGTERM or SIGINT: finish the message in hand, commit, and leave cleanly."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGTERM, self._set)
        signal.signal(signal.SIGINT, self._set)

    def _set(self, *_: object) -> None:
        self.requested = True


def run(args: argparse.Namespace) -> Tally:
    schemas = Schemas(Path(args.schemas))
    kafka = {"bootstrap_servers": args.bootstrap.split(","), "client_id": f"partner-{args.partner}-kit",
             "bootstrap_timeout_ms": int(args.connect_timeout * 1000), **security(args)}
    partner = Partner(args.partner, schemas, Path(args.work_dir), args.reviewer, args.think_seconds)
    requests, opinions = f"partner.{args.partner}.requests.v1", f"partner.{args.partner}.opinions.v1"
    group = f"partner.{args.partner}.{args.group_suffix}"
    stop = Stop()
    consumer = KafkaConsumer(requests, group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest", **kafka)
    producer = KafkaProducer(acks="all", **kafka)
    log.info("partner %s ready: reading %s as group %s", args.partner, requests, group)
    idle_since: float | None = None  # the idle clock starts once the group gave us partitions
    started = time.monotonic()
    try:
        while not stop.requested:
            batch = consumer.poll(timeout_ms=500)
            answers = []
            for records in batch.values():
                for record in records:
                    answers += partner.read(record.value, f"partition {record.partition} offset {record.offset}")
            answers += partner.due()
            sent = [send(producer, schemas, opinions, answer) for answer in answers]
            producer.flush()
            for future in filter(None, sent):
                future.get(timeout=30)  # a refused send raises: nothing is committed, it is re-read
            if batch:
                consumer.commit()  # after the answers are out: a crash redelivers, never loses
            if batch or partner.pending or not consumer.assignment():
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            if args.once and idle_since is not None and time.monotonic() - idle_since >= args.idle:
                break
            if args.once and not consumer.assignment() and time.monotonic() - started > ASSIGN_WITHIN:
                raise Unavailable(f"{requests}: no partition was assigned within {ASSIGN_WITHIN} s; "
                                  "the topic is missing or this partner may not read it")
    finally:
        producer.flush()
        producer.close()
        consumer.close()
    return partner.tally


def send(producer: KafkaProducer, schemas: Schemas, topic: str, answer: dict[str, Any]) -> Any:
    problem = schemas.problem(answer, FROM_PARTNER)
    if problem:  # our own bug: never put an invalid message on the wire
        log.error("not sending an invalid %s: %s", answer["type"], problem)
        return None
    return producer.send(topic, key=answer["pack_id"].encode(), value=json.dumps(answer).encode())


def parse(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partner", default=env("PARTNER_NAME"), help="the partner's name (env PARTNER_NAME)")
    parser.add_argument("--bootstrap", default=env("PARTNER_BOOTSTRAP", "127.0.0.1:9092"),
                        help="host:port[,host:port] (env PARTNER_BOOTSTRAP)")
    parser.add_argument("--password-file", default=env("PARTNER_PASSWORD_FILE"),
                        help="SCRAM password of partner-NAME; plaintext without (env PARTNER_PASSWORD_FILE)")
    parser.add_argument("--ssl-cafile", default=env("PARTNER_SSL_CAFILE"), help="use TLS, trusting this CA")
    parser.add_argument("--schemas", default=env("PARTNER_SCHEMAS", str(DEFAULT_SCHEMAS)),
                        help="the folder of the published partner schemas")
    parser.add_argument("--work-dir", default=env("PARTNER_WORK_DIR"),
                        help="where packs and seen ids are kept (default ./partner-work/NAME)")
    parser.add_argument("--group-suffix", default="kit", help="consumer group partner.NAME.<this>")
    parser.add_argument("--reviewer", default="Dr Example Reviewer", help="the expert named on opinions")
    parser.add_argument("--think-seconds", type=float, default=0.0,
                        help="how long a pack waits before it is answered (a recall meanwhile cancels it)")
    parser.add_argument("--connect-timeout", type=float, default=15.0,
                        help="seconds to wait for the broker at start before giving up (exit 3)")
    parser.add_argument("--once", action="store_true", help="stop once nothing arrived for --idle seconds")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds without news before --once stops")
    args = parser.parse_args(argv)
    if not args.partner or not NAME.match(args.partner):
        raise Usage("--partner: lower-case letters, digits and dashes, 2 to 41 characters")
    if args.think_seconds < 0:
        raise Usage("--think-seconds: must not be negative")
    if args.idle <= 0 or args.connect_timeout <= 0:
        raise Usage("--idle/--connect-timeout: must be above zero")
    args.work_dir = args.work_dir or str(Path("partner-work") / args.partner)
    return args


def main(argv: list[str] | None = None) -> int:
    # kafka-python's own chatter only when it matters; this client's lines at INFO
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    try:
        args = parse(argv)
        tally = run(args)
    except Usage as error:
        print(f"bad input: {error}", file=sys.stderr)
        return 2
    except KafkaTimeoutError:
        print("unavailable: no Kafka broker answers at the bootstrap address", file=sys.stderr)
        return 3
    except Unavailable as error:
        print(f"unavailable: {error}", file=sys.stderr)
        return 3
    except KafkaError as error:  # refused credentials or ACLs, a broker gone for good
        print(f"unavailable: Kafka refused: {type(error).__name__}", file=sys.stderr)
        return 3
    print(json.dumps({"partner": args.partner, **tally.__dict__}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
