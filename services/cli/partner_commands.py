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

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from services import partners_admin
from services.cli import presenters
from services.cli.plumbing import PLAIN, app, bus_setting, context, emit, read_file, runtime
from services.common.errors import BadInput

if TYPE_CHECKING:
    from services.bootstrap import Deployment

partner = typer.Typer(**PLAIN, help="Reviewer partners: third-party expert networks on their own Kafka topics.")
app.add_typer(partner, name="partner")

#: The checks and the work are shared with the HTTP API: services/partners_admin.py.
PARTNER_NAME = partners_admin.PARTNER_NAME
MIN_PASSWORD = partners_admin.MIN_PASSWORD
topics_of = partners_admin.topics_of


def check_name(name: str) -> str:
    return partners_admin.check_name(name, "NAME")


def check_specialties(text: str) -> list[str]:
    return partners_admin.check_specialties(text.split(","), "--specialties")


def check_password(path: str) -> str:
    password = read_file(path, "--password-file").strip("\r\n")
    if not password:
        raise BadInput("--password-file", "the file is empty")
    return partners_admin.check_password(password, "--password-file")


def recording(call: Callable[[Deployment], dict[str, Any]]) -> dict[str, Any]:
    with runtime() as rt:
        return call(rt)


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
    result = partners_admin.add_partner(name, wanted, password, bus=bus_setting(), write=recording,
                                        context=context)
    emit(result, lambda r: presenters.say(
        f"Partner {r['partner']} takes {', '.join(r['specialties'])}: it reads "
        f"{r['requests_topic']} and writes {r['opinions_topic']} as {r['principal']}."))


@partner.command("remove")
def partner_remove(
    name: str = typer.Argument(...),
    reason: str = typer.Option(partners_admin.DEFAULT_REASON, "--reason", help="Why, for the audit"),
) -> None:
    """Revoke the partner's ACLs and credentials (with CASES_BUS); its open referrals are
    routed anew (another partner of the specialty, else the in-house team)."""
    check_name(name)
    why = partners_admin.check_reason(reason, "--reason")

    def registered() -> bool:
        with runtime(reads=True) as rt:
            return partners_admin.is_registered(rt, name)

    result = partners_admin.remove_partner(name, why, bus=bus_setting(), registered=registered,
                                           write=recording, context=context)
    emit(result, lambda r: presenters.say(
        f"Partner {r['partner']} removed; {len(r['rerouted'])} referral(s) routed anew."))


@partner.command("list")
def partner_list() -> None:
    """The registered partners, their specialties and their open referrals."""
    with runtime(reads=True) as rt:
        result = partners_admin.list_partners(rt)
    emit(result, show_partners)


def show_partners(result: dict[str, Any]) -> None:
    if not result["partners"]:
        presenters.say("No partners are registered.")
    for p in result["partners"]:
        presenters.say(f"{p['partner']}: {', '.join(p['specialties'])}; "
                       f"{len(p['open_referrals'])} open referral(s)")
