"""The composition root: which services there are, who follows whom, their keys, and how
each application is built on its store. Everything that wires the business to the
technology happens here; `services/runtime/` knows no service, and no service knows the
runtime that drives it.

- A new service: its package under `services/`, a line in `SERVICES` and `build`, its
  leaders in `PIPES`.
- A new reaction: a method on the service's application, listed in its `reactions`
  (or, deliberately, in its `ignores`).
- A new event: a model in `events/`, registered there; then `make schemas`.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from services.common.context import Clock, SystemClock
from services.common.errors import Refused, ServiceUnavailable
from services.runtime.application import ServiceApplication, retrying
from services.runtime.keystore import MemberKeys
from services.runtime.stores import NoStores, prepare_store, store_env

if TYPE_CHECKING:
    from services.intake.application import Intake
    from services.records.application import Records
    from services.reporting.application import Reporting
    from services.review.application import Review
    from services.runtime.kafka.bus import KafkaSettle
    from services.runtime.kafka.config import KafkaSettings

T = TypeVar("T")

SERVICES = ("intake", "records", "review", "reporting")
#: A case in one of these statuses is no longer open (erasure may proceed).
FINISHED = frozenset({"closed", "cancelled", "declined"})

#: (leader, follower). Intake follows reporting only to learn that a report went out.
PIPES: tuple[tuple[str, str], ...] = (
    ("intake", "records"),
    ("intake", "review"),
    ("records", "review"),
    ("intake", "reporting"),
    ("records", "reporting"),
    ("review", "reporting"),
    ("reporting", "intake"),
)


def leaders_of(service: str) -> list[str]:
    return [leader for leader, follower in PIPES if follower == service]


#: The methods of each service that change its store. Over Kafka they run only inside the
#: service's own worker (services/runtime/commands.py): a command line or `cases serve` sends
#: them there, and reads the rest from a read-only copy of the store.
COMMANDS: dict[str, frozenset[str]] = {
    "intake": frozenset({"load_policies", "open_case", "cancel_case", "record_reveal",
                         "erase_member", "forget_member", "on_timer"}),
    "records": frozenset({"grant_consent", "withdraw_consent", "request_records", "add_record",
                          "mark_unobtainable", "complete_records", "on_timer"}),
    "review": frozenset({"register_reviewers", "register_partner", "remove_partner",
                         "submit_opinion", "decline", "declare_conflict", "attend_appointment",
                         "sweep_partner_deadlines", "flag_overdue_reviews", "on_timer",
                         "receive_partner_message"}),  # the demo's in-process network answers
    "reporting": frozenset({"deliver_report", "close_case", "record_dead_letter_retry",
                            "resolve_dead_letter", "rebuild_views_from_topics", "on_timer"}),
}


def companions_of(service: str, app: ServiceApplication, settings: KafkaSettings,
                  home: Path | None = None) -> list[Any]:
    """Loops that run inside a service's worker beside its relay and consumer
    (services/runtime/kafka/worker.py `Companion`): the endpoint that serves the service's
    commands (with `home`), and review's partner gateway (packs out to each partner's
    requests topic, opinions in from its opinions topic)."""
    companions: list[Any] = []
    if home is not None:
        from services.runtime.commands import CommandEndpoint
        from services.runtime.kafka.deadletters import retry_parked

        port = int(os.environ.get(f"CASES_COMMAND_PORT_{service.upper()}", "0") or 0)
        companions.append(CommandEndpoint(
            app, service, COMMANDS[service], load_keys(home).commands, home, port, run=retrying,
            extras={"retry_parked": lambda message: retry_parked(app, message)}))
    if service == "review":
        from services.review.partner_gateway import PartnerGateway

        companions.append(PartnerGateway(cast("Review", app), settings))
    return companions


# -- keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    """Per-deployment secrets, one per purpose, derived from one root secret kept beside
    the stores (a real deployment would hold the root in a KMS)."""

    member: bytes  # member references
    pack: bytes  # case pseudonyms in review packs
    analytics: bytes  # analytics references
    signing: bytes  # the 32-byte seed of the deployment's Ed25519 evidence-signing key
    kek: bytes  # wraps each member's data key (services/runtime/keystore.py)
    tokens: bytes  # signs the HTTP API's bearer tokens (services/api/auth.py)
    commands: bytes  # signs commands sent to a service's worker (services/runtime/commands.py)

    @classmethod
    def from_root(cls, root: bytes) -> Keys:
        return cls(*(hashlib.sha256(root + purpose.encode()).digest()
                     for purpose in ("member", "pack", "analytics", "signing", "kek", "tokens",
                                     "commands")))


KEY_FILE = "deployment.key"


def load_keys(home: Path, *, create: bool = True) -> Keys:
    """The deployment's keys. The root secret is made on first use by a command that
    writes (32 random bytes, mode 0600): written aside and linked into place, so a process
    starting at the same moment never reads half a key, and of two creators the first
    one wins."""
    path = home / KEY_FILE
    if not path.exists():
        if not create:
            raise FileNotFoundError(f"no {KEY_FILE} in {home}")
        home.mkdir(parents=True, exist_ok=True)
        draft = home / f".{KEY_FILE}.{os.getpid()}"
        draft.write_bytes(secrets.token_bytes(32))
        draft.chmod(0o600)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return Keys.from_root(path.read_bytes())


def open_vault(home: Path, *, readonly: bool = False) -> MemberKeys | None:
    """The members' key store under `home`; a read without a deployment key gets None."""
    try:
        keys = load_keys(home, create=not readonly)
    except FileNotFoundError:
        return None
    return MemberKeys(home, keys.kek, readonly=readonly)


# -- the applications ------------------------------------------------------------------------


def build(name: str, env: dict[str, str], clock: Clock, keys: Keys | None,
          vault: MemberKeys | None = None) -> ServiceApplication:
    """One service's application on the store `env` describes. Intake and records need
    their keys, intake and review the members' key store (a read-only build passes None:
    it makes no pseudonym and seals nothing)."""
    # Each service's module is imported when it is built: a read of one service (`cases
    # show` reads reporting's views) does not import the other three.
    # A read-only application gets no key: it makes no pseudonym, and would refuse to.
    if name == "intake":
        from services.intake.application import Intake

        return Intake(env, clock, member_key=keys.member if keys else None, vault=vault)
    if name == "records":
        from services.records.application import Records

        return Records(env, clock, pack_key=keys.pack if keys else None)
    if name == "review":
        from services.review.application import Review

        return Review(env, clock, vault=vault)
    if name == "reporting":
        from services.reporting.application import Reporting

        return Reporting(env, clock)
    raise ValueError(f"unknown service {name!r}; expected one of {', '.join(SERVICES)}")


def build_service(name: str, home: Path, clock: Clock | None = None, *, readonly: bool = False,
                  keys: Keys | None = None, vault: MemberKeys | None = None) -> ServiceApplication:
    """A service on its store under `home` (or the configured database). Writing, its
    tables are made if they are missing (once; see `prepare_store`)."""
    clock = clock or SystemClock()
    if not readonly and keys is None:
        keys = load_keys(home)
    if not readonly and vault is None and keys is not None and name in ("intake", "review"):
        vault = MemberKeys(home, keys.kek)
    app = build(name, store_env(home, name, readonly=readonly), clock, keys, vault)
    if not readonly:
        try:
            retrying(lambda: prepare_store(app, app.extra_tables()))
        except BaseException:
            app.close()
            raise
    return app


# -- a deployment ----------------------------------------------------------------------------


class Deployment:
    """The four services on their stores, as a command line or a test drives them, and
    the pipeline that carries events between them (embedded, or the Kafka workers)."""

    #: Where `replay` reads a case's events: the stores themselves, or reporting's trail.
    replays_from_stores = True

    def __init__(self, home: Path, clock: Clock | None = None, *, readonly: bool = False):
        self.home = home
        self.readonly = readonly
        self.clock = clock or SystemClock()
        self._keys = None if readonly else load_keys(home)
        self._built: dict[str, ServiceApplication] = {}
        #: The members' key store: sealing when writing; unsealing for --reveal and erasure.
        self.vault: MemberKeys | None = open_vault(home, readonly=readonly)
        if not readonly:  # a writer needs them all (the pipeline); a read builds what it uses
            try:
                for name in SERVICES:
                    self.service(name)
            except BaseException:
                self.close()
                raise

    def service(self, name: str) -> ServiceApplication:
        if name not in self._built:
            self._built[name] = build_service(name, self.home, self.clock, readonly=self.readonly,
                                              keys=self._keys,
                                              vault=None if self.readonly else self.vault)
        return self._built[name]

    @property
    def services(self) -> dict[str, ServiceApplication]:
        """All four, in SERVICES order (built now if a read had not needed them yet)."""
        return {name: self.service(name) for name in SERVICES}

    @property
    def intake(self) -> Intake:
        return cast("Intake", self.service("intake"))

    @property
    def records(self) -> Records:
        return cast("Records", self.service("records"))

    @property
    def review(self) -> Review:
        return cast("Review", self.service("review"))

    @property
    def reporting(self) -> Reporting:
        return cast("Reporting", self.service("reporting"))

    def pump(self) -> int:
        """Carry every recorded event to the services that follow its service."""
        return 0

    #: False once a command was recorded but the followers had not caught up in time (over
    #: Kafka: workers down or slow). The command still succeeded; its output says so.
    settled = True

    def command(self, call: Callable[[], T]) -> T:
        """One command: retried on a conflict with a concurrent writer (each attempt is
        one transaction, so nothing is half-recorded), then the followers catch up. Once
        the change is recorded the command has happened: a pipeline that does not settle
        is reported (`settled`), never an error that would invite a duplicate retry."""
        result = retrying(call)
        self.settle()
        return result

    def settle(self) -> None:
        try:
            self.pump()
        except ServiceUnavailable as unsettled:
            self.settled = False
            self.unsettled_reason = str(unsettled)

    def case_command(self, case_id: UUID, call: Callable[[], Any]) -> dict[str, Any]:
        """A command on one case: an unknown case is bad input; a declined or cancelled
        case refuses every command, whichever service owns it. Returns the case after."""
        self.case_must_be_open(case_id)
        self.command(call)
        return self.reporting.case_state(case_id)

    def case_must_be_open(self, case_id: UUID) -> dict[str, Any]:
        state = self.reporting.case_state(case_id)
        if state["status"] == "declined":
            raise Refused("case_declined", "the case was declined at eligibility")
        if state["status"] == "cancelled":
            raise Refused("case_cancelled", "the case was cancelled")
        return state

    def erase_member(self, case_id: UUID, reason: str, ctx: Any) -> dict[str, Any]:
        """UK GDPR erasure of the member of `case_id` (SPEC section 10): refused while any of
        their cases is open; otherwise the erasure is recorded on each of their cases, then
        their key is destroyed, so every value sealed under it becomes unreadable everywhere.
        Running it again changes nothing and answers the same."""
        member = str(self.reporting.case_state(case_id)["member_ref"])
        theirs = [s for s in self.reporting.views.all_states() if str(s.get("member_ref")) == member]
        still_open = sorted(s["case_id"] for s in theirs if s["status"] not in FINISHED)
        if still_open:
            raise Refused("case_open", f"the member has open cases ({', '.join(still_open)}); "
                                       "erasure waits until each is closed, cancelled or declined")
        if self.vault is None:
            raise ServiceUnavailable("no key store in this home")
        cases = sorted(s["case_id"] for s in theirs)
        self.command(lambda: self.intake.erase_member([UUID(c) for c in cases], reason, ctx))
        self.command(lambda: self.intake.forget_member(UUID(member)))
        return {"erased": member, "cases": cases}

    def tick(self) -> int:
        """The clocks' tick: every service's periodic work (review flags overdue reviews)."""
        changed = sum(retrying(lambda app=app: app.on_timer(self.clock.now()))  # type: ignore[misc]
                      for app in self.services.values())
        self.settle()
        return changed

    def flag_overdue_reviews(self) -> int:
        return self.tick()

    def close(self) -> None:
        for app in self._built.values():
            app.close()
        if getattr(self, "vault", None) is not None:
            self.vault.close()  # type: ignore[union-attr]


class EmbeddedRuntime(Deployment):
    """One process: followers read their leaders' notification logs directly."""

    def __init__(self, home: Path, clock: Clock | None = None, *, readonly: bool = False):
        super().__init__(home, clock, readonly=readonly)
        self.pipeline = None
        if not readonly:  # a read carries nothing, and builds only the services it reads
            from services.runtime.embedded import EmbeddedPipeline

            self.pipeline = EmbeddedPipeline(self.services, PIPES)

    def pump(self) -> int:
        return self.pipeline.pump() if self.pipeline is not None else 0


class BusRuntime(Deployment):
    """The command line (or `cases serve`) over Kafka. It opens no store for writing: each
    command goes to the owning service's own worker (services/runtime/commands.py), reads
    come from read-only copies of the stores, and `pump` waits until the workers carried
    the consequences over the topics."""

    replays_from_stores = False  # replay reads what reporting built from the topics

    def __init__(self, home: Path, settings: KafkaSettings, clock: Clock | None = None, *,
                 readonly: bool = False, settle_timeout: float = 60.0):
        super().__init__(home, clock, readonly=True)  # the stores are the workers'
        from services.runtime.kafka.bus import KafkaSettle

        self.settings = settings
        self.writes = not readonly
        self.kafka: KafkaSettle | None = None
        self._remote: dict[str, Any] = {}
        if readonly:  # a read waits for nobody
            return
        from services.runtime.kafka.bus import reachable

        if not any(reachable(server) for server in settings.bootstrap_servers):
            super().close()  # before anything is recorded, and in seconds
            raise ServiceUnavailable(f"no Kafka broker answers at {settings.bootstrap}")
        try:
            self.command_key = load_keys(home, create=False).commands
            self.kafka = KafkaSettle(self.services, PIPES, settings, settle_timeout)
        except (FileNotFoundError, NoStores):
            super().close()
            raise ServiceUnavailable(
                f"no deployment in {home}: start the workers first (cases worker intake|records|"
                "review|reporting); nothing was recorded") from None
        except BaseException:
            super().close()
            raise

    def service(self, name: str) -> ServiceApplication:
        reader = super().service(name)
        if not self.writes:
            return reader
        if name not in self._remote:
            from services.runtime.commands import RemoteCommands

            self._remote[name] = RemoteCommands(name, COMMANDS[name] | {"retry_parked"},
                                                self.command_key, self.home, reader)
        return cast(ServiceApplication, self._remote[name])

    def pump(self) -> int:
        return self.kafka.pump() if self.kafka is not None else 0

    def close(self) -> None:
        if self.kafka is not None:
            self.kafka.close()
        super().close()


def deployment(home: Path, clock: Clock | None = None, *, readonly: bool = False,
               bus: KafkaSettings | None = None) -> Deployment:
    """The deployment the one runtime setting (CASES_BUS) names: embedded, or over Kafka."""
    if bus is None:
        return EmbeddedRuntime(home, clock, readonly=readonly)
    # How long a command waits for the workers to catch up before it reports "not settled".
    settle = float(os.environ.get("CASES_SETTLE_SECONDS", "60"))
    return BusRuntime(home, bus, clock, readonly=readonly, settle_timeout=settle)
