"""Reviewer partners (SPEC section 9), administered the same way from both edges: the command
line (`cases partner add|remove|list`, services/cli/partner_commands.py) and the HTTP API
(`POST|GET /partners`, `DELETE /partners/{name}`, services/api/actions.py).

Each edge reads its input its own way (a password file, a JSON body) and names the fields in
its own words (`--password-file`, `password`); the checks, the order of the work and the
results are here, once:

- adding: with a bus, the broker is set up first (the partner's two topics, its SCRAM user
  and ACLs: services/runtime/kafka/access.py), and only then is the partner registered in
  review's directory, so a partner is never routed packs it could not be sent; a broker that
  cannot be reached is ServiceUnavailable with nothing recorded. Embedded, only the
  registration is recorded (`"secured": false, "broker": null`);
- removing: refused (`unknown_partner`) when no such partner is registered; else its access
  is revoked first, then review routes its open referrals anew.

The password is handed to the broker and nowhere else: no result, problem or log line holds it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from services.common.context import Context
from services.common.errors import BadInput, Refused, ServiceUnavailable

if TYPE_CHECKING:
    from services.bootstrap import Deployment
    from services.runtime.kafka.config import KafkaSettings

T = TypeVar("T")
#: Runs a call on a deployment the edge opened (for reading, or for recording a change).
Run = Callable[[Callable[["Deployment"], T]], T]

#: As the broker's names (services/runtime/kafka/access.py, events/review.py): lower-case
#: letters, digits and dashes, so that no name reaches into another partner's prefix.
PARTNER_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,40}")
MIN_PASSWORD = 12
NAME_PROBLEM = ("a partner name is 2 to 41 lower-case letters, digits or dashes,"
                " starting with a letter or digit")
DEFAULT_REASON = "removed by an operator"


# -- the checks ---------------------------------------------------------------------------------


def check_name(name: str, field: str) -> str:
    if not isinstance(name, str) or not PARTNER_NAME.fullmatch(name):
        raise BadInput(field, NAME_PROBLEM)
    return name


def check_specialties(specialties: Iterable[str], field: str) -> list[str]:
    """The specialties, trimmed, each once, in the order given; at least one, none empty."""
    from services.common.validation import is_blank  # pydantic: not at every command's start

    given = [s.strip() for s in specialties]
    if not any(given):
        raise BadInput(field, "name at least one specialty, e.g. orthopaedics,cardiology")
    if any(is_blank(s) for s in given):
        raise BadInput(field, "an empty specialty between commas")
    if any("," in s for s in given):
        raise BadInput(field, "a specialty holds no comma")
    if any(unicodedata.category(ch) == "Cc" for s in given for ch in s):
        raise BadInput(field, "a specialty holds a control character")
    return list(dict.fromkeys(given))


def check_password(password: str, field: str) -> str:
    """The problem never quotes the password."""
    if not password:
        raise BadInput(field, "the password is empty")
    if len(password) < MIN_PASSWORD:
        raise BadInput(field, f"the password needs at least {MIN_PASSWORD} characters")
    return password


def check_reason(reason: str, field: str) -> str:
    from services.common.validation import is_blank  # pydantic: not at every command's start

    if is_blank(reason):
        raise BadInput(field, "must not be empty")
    return reason.strip()


# -- the work -----------------------------------------------------------------------------------


def topics_of(name: str) -> dict[str, str]:
    from events.topics import partner_opinions_topic, partner_requests_topic

    return {"principal": f"User:partner-{name}", "requests_topic": partner_requests_topic(name),
            "opinions_topic": partner_opinions_topic(name)}


def on_broker(settings: KafkaSettings, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a provisioning call; a broker that is not there is unavailable, nothing recorded."""
    from kafka.errors import KafkaError

    from services.runtime.kafka.bus import reachable

    if not any(reachable(server) for server in settings.bootstrap_servers):
        raise ServiceUnavailable(f"no Kafka broker answers at {settings.bootstrap}")
    try:
        return call()
    except KafkaError as error:
        raise ServiceUnavailable(f"the broker refused or went away: {type(error).__name__}") from None


def add_partner(name: str, specialties: list[str], password: str, *, bus: KafkaSettings | None,
                write: Run[dict[str, Any]], context: Callable[[], Context]) -> dict[str, Any]:
    """Checked input in; the partner provisioned on the broker (with a bus), then registered.
    `write` runs the registration on a deployment that records, and returns its result."""
    secured = False
    if bus is not None:
        from services.runtime.kafka.access import provision_partner

        settings = bus
        provisioned = on_broker(settings, lambda: provision_partner(settings, name, password, specialties))
        secured = bool(provisioned.get("secured"))

    def register(rt: Deployment) -> dict[str, Any]:
        rt.command(lambda: rt.review.register_partner(name, specialties, context()))
        return {"partner": name, **topics_of(name), "specialties": specialties, "secured": secured,
                "broker": bus.bootstrap if bus is not None else None}

    return write(register)


def is_registered(rt: Deployment, name: str) -> bool:
    return name in rt.review.directory().partners


def remove_partner(name: str, reason: str, *, bus: KafkaSettings | None, registered: Callable[[], bool],
                   write: Run[dict[str, Any]], context: Callable[[], Context]) -> dict[str, Any]:
    """A registered partner's access revoked (with a bus), then its registration removed and
    its open referrals routed anew. `registered` says whether the directory holds it."""
    if not registered():
        raise Refused("unknown_partner", f"no partner named {name} is registered")
    if bus is not None:
        from services.runtime.kafka.access import revoke_partner

        settings = bus
        on_broker(settings, lambda: revoke_partner(settings, name))

    def remove(rt: Deployment) -> dict[str, Any]:
        rerouted = rt.command(lambda: rt.review.remove_partner(name, reason, context()))
        return {"partner": name, "removed": True, "rerouted": [str(c) for c in rerouted],
                "broker": bus.bootstrap if bus is not None else None}

    return write(remove)


def list_partners(rt: Deployment) -> dict[str, Any]:
    """The registered partners, their specialties, topics and open referrals."""
    return {"partners": [{**p, **topics_of(p["partner"])} for p in rt.review.partners()]}
