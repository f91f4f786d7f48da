"""`cases partner add|remove|list`: reviewer partners (SPEC section 9).

With CASES_BUS the broker is set up first (the partner's two topics, its SCRAM user and
ACLs: services/runtime/kafka/access.py), and only then is the partner registered in
review's directory, so a partner is never routed packs it could not be sent; a broker
that cannot be reached exits 3 with nothing recorded. Without CASES_BUS (the embedded
runtime) only the registration is recorded (`"secured": false, "broker": null`).

Removing a partner revokes its access first, then review routes its open referrals anew.
Removing a partner that is not registered is refused: exit 1, `unknown_partner`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import typer

from services.cli import presenters
from services.cli.plumbing import PLAIN, app, bus_setting, context, emit, read_file, runtime
from services.common.errors import BadInput, Refused, ServiceUnavailable

if TYPE_CHECKING:
    from services.runtime.kafka.config import KafkaSettings

partner = typer.Typer(**PLAIN, help="Reviewer partners: third-party expert networks on their own Kafka topics.")
app.add_typer(partner, name="partner")

#: As the broker's names (services/runtime/kafka/access.py, events/review.py): lower-case
#: letters, digits and dashes, so that no name reaches into another partner's prefix.
PARTNER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,40}$")
MIN_PASSWORD = 12


def check_name(name: str) -> str:
    if not PARTNER_NAME.match(name):
        raise BadInput("NAME", "a partner name is 2 to 41 lower-case letters, digits or dashes,"
                               " starting with a letter or digit")
    return name


def check_specialties(text: str) -> list[str]:
    specialties = [s.strip() for s in text.split(",")]
    if not any(specialties):
        raise BadInput("--specialties", "name at least one specialty, e.g. orthopaedics,cardiology")
    if not all(specialties):
        raise BadInput("--specialties", "an empty specialty between commas")
    return list(dict.fromkeys(specialties))


def check_password(path: str) -> str:
    password = read_file(path, "--password-file").strip("\r\n")
    if not password:
        raise BadInput("--password-file", "the file is empty")
    if len(password) < MIN_PASSWORD:
        raise BadInput("--password-file", f"the password needs at least {MIN_PASSWORD} characters")
    return password


def topics_of(name: str) -> dict[str, str]:
    from events.topics import partner_opinions_topic, partner_requests_topic

    return {"principal": f"User:partner-{name}", "requests_topic": partner_requests_topic(name),
            "opinions_topic": partner_opinions_topic(name)}


def on_broker(settings: KafkaSettings, call: Any) -> dict[str, Any]:
    """Run a provisioning call; a broker that is not there is exit 3, nothing recorded."""
    from kafka.errors import KafkaError

    from services.runtime.kafka.bus import reachable

    if not any(reachable(server) for server in settings.bootstrap_servers):
        raise ServiceUnavailable(f"no Kafka broker answers at {settings.bootstrap}")
    try:
        result: dict[str, Any] = call()
    except KafkaError as error:
        raise ServiceUnavailable(f"the broker refused or went away: {type(error).__name__}") from None
    return result


@partner.command("add")
def partner_add(
    name: str = typer.Argument(..., help="Lower-case letters, digits and dashes"),
    specialties: str = typer.Option(..., "--specialties", help="Comma-separated: orthopaedics,cardiology"),
    password_file: str = typer.Option(..., "--password-file", help="The partner's SCRAM password (12+ characters)"),
) -> None:
    """Create the partner's topics, SCRAM user and ACLs (with CASES_BUS), and register it as
    the third-party network for its specialties."""
    check_name(name)
    wanted = check_specialties(specialties)
    password = check_password(password_file)
    settings = bus_setting()
    secured = False
    if settings is not None:
        from services.runtime.kafka.access import provision_partner

        provisioned = on_broker(settings, lambda: provision_partner(settings, name, password, wanted))
        secured = bool(provisioned.get("secured"))
    with runtime() as rt:
        rt.command(lambda: rt.review.register_partner(name, wanted, context()))
    emit({"partner": name, **topics_of(name), "specialties": wanted, "secured": secured,
          "broker": settings.bootstrap if settings is not None else None},
         lambda r: presenters.say(f"Partner {r['partner']} takes {', '.join(r['specialties'])}: it reads "
                                  f"{r['requests_topic']} and writes {r['opinions_topic']} as {r['principal']}."))


@partner.command("remove")
def partner_remove(
    name: str = typer.Argument(...),
    reason: str = typer.Option("removed by an operator", "--reason", help="Why, for the audit"),
) -> None:
    """Revoke the partner's ACLs and credentials (with CASES_BUS); its open referrals are
    routed anew (another partner of the specialty, else the in-house team)."""
    check_name(name)
    if not reason.strip():
        raise BadInput("--reason", "must not be empty")
    with runtime(reads=True) as rt:
        if name not in rt.review.directory().partners:
            raise Refused("unknown_partner", f"no partner named {name} is registered")
    settings = bus_setting()
    if settings is not None:
        from services.runtime.kafka.access import revoke_partner

        on_broker(settings, lambda: revoke_partner(settings, name))
    with runtime() as rt:
        rerouted = rt.command(lambda: rt.review.remove_partner(name, reason.strip(), context()))
    emit({"partner": name, "removed": True, "rerouted": [str(c) for c in rerouted],
          "broker": settings.bootstrap if settings is not None else None},
         lambda r: presenters.say(f"Partner {r['partner']} removed; {len(r['rerouted'])} referral(s) routed anew."))


@partner.command("list")
def partner_list() -> None:
    """The registered partners, their specialties and their open referrals."""
    with runtime(reads=True) as rt:
        partners = [{**p, **topics_of(p["partner"])} for p in rt.review.partners()]
    emit({"partners": partners}, show_partners)


def show_partners(result: dict[str, Any]) -> None:
    if not result["partners"]:
        presenters.say("No partners are registered.")
    for p in result["partners"]:
        presenters.say(f"{p['partner']}: {', '.join(p['specialties'])}; "
                       f"{len(p['open_referrals'])} open referral(s)")
