"""`cases deadletter list|retry|resolve`: the messages a worker could not decode or apply,
parked on cases.deadletter.v1, and what people do about them.

- list: every dead letter (id = its offset on the dead-letter topic), who failed it, where
  it came from, the event's type and id, the reason, and its state: open, retried (its
  effect is stored) or resolved (who, when, the note). Never the message's value.
- retry ID: the command line hands the message again to the service that failed it, in
  process, through that service's own application: decoded and checked as its worker would,
  applied as a reaction with exactly-once effect (the dead letter's own tracking record, and
  the service's applied-events table by event id). The store is still written only by the
  service's code, as every command over Kafka does; its worker relays what the reaction
  recorded. Chosen over a per-service retry topic: no topic, group or worker change, and the
  person sees the outcome at once. A message that fails again stays open with the new
  reason, and the command exits 1 with it.
- resolve ID --note: a person reviewed it and decided nothing further is needed.

Retries and resolutions are events in reporting's log (dead_letter_retried,
dead_letter_resolved), hash-chained like every other; `cases verify` reads them.
Dead letters exist only over Kafka: the embedded runtime fails the command instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from services.cli import presenters
from services.cli.plumbing import PLAIN, app, bus_setting, context, emit, reader, runtime
from services.common.errors import BadInput, Refused

if TYPE_CHECKING:
    from services.bootstrap import Deployment
    from services.reporting.dead_letters import DeadLetter
    from services.runtime.kafka.config import KafkaSettings

deadletter = typer.Typer(**PLAIN, help="Messages the workers could not decode or apply (over Kafka).")
app.add_typer(deadletter, name="deadletter")


@deadletter.command("list")
def deadletter_list() -> None:
    """Every dead letter: id, when, which service failed it, origin, event type and id,
    the reason, and its state (open, retried, resolved). Never the message itself."""
    from services.reporting.dead_letters import handling, listing

    settings = kafka_only()
    with runtime(reads=True) as rt:
        letters = parked(settings)
        rows = listing(letters, handling(rt.reporting))
    emit({"dead_letters": rows}, show_list)


@deadletter.command("retry")
def deadletter_retry(letter_id: str = typer.Argument(..., metavar="ID", help="as `deadletter list` shows it")) -> None:
    """Hand the message again to the service that failed it (exactly-once effect: if it was
    applied since, nothing happens twice). Exit 1 with the reason if it fails again."""
    from events.topics import SERVICES
    from services.reporting.dead_letters import find, parse_letter_id

    settings = kafka_only()
    parse_letter_id(letter_id)
    with runtime() as rt:
        letter = find(parked(settings), letter_id)
        ref = letter.ref
        if ref.consumer not in SERVICES:  # e.g. review's partner gateway: the partner sends again
            raise Refused("not_retryable", f"dead letter {letter.id} was failed by {ref.consumer}, not by"
                                           " a service whose reactions the command line runs; resolve"
                                           " it after review")
        rt.reporting.dead_letter_handling(ref).may_retry()
        # The service's own worker applies it (the only process that writes its store).
        owner: Any = rt.service(ref.consumer)  # over Kafka: the commands of its worker
        handed = rt.command(lambda: owner.retry_parked(letter.message))
        outcome, reason = handed["outcome"], handed.get("reason")
        ctx = context(reader())
        rt.command(lambda: rt.reporting.record_dead_letter_retry(ref, outcome, reason, ctx))
        row = current(rt, letter)
    if reason is not None:
        raise Refused("still_failing", f"dead letter {letter.id} failed again and stays open: {reason}")
    emit({"dead_letter": row, "outcome": outcome}, lambda r: presenters.say(
        f"Dead letter {r['dead_letter']['id']} handed again to {r['dead_letter']['consumer']}: "
        + {"applied": "applied.", "already_applied": "its effect was already stored; nothing done twice.",
           "nothing_to_apply": f"{r['dead_letter']['consumer']} does not react to it; nothing to do."}[r["outcome"]]))


@deadletter.command("resolve")
def deadletter_resolve(
    letter_id: str = typer.Argument(..., metavar="ID", help="as `deadletter list` shows it"),
    note: str = typer.Option(..., "--note", help="why nothing further is needed (no personal data)"),
    by: str | None = typer.Option(None, "--by", help="who reviewed it (default: CASES_USER, else your login)"),
) -> None:
    """Record that a person reviewed a dead letter and decided it needs nothing further:
    `cases verify` then lists it as resolved instead of failing on it."""
    from services.reporting.dead_letters import find, parse_letter_id

    settings = kafka_only()
    parse_letter_id(letter_id)
    if not note.strip():
        raise BadInput("--note", "must say why nothing further is needed")
    who = reader() if by is None else by
    if not who.strip():
        raise BadInput("--by", "must name who reviewed it")
    with runtime() as rt:
        letter = find(parked(settings), letter_id)
        ctx = context(who.strip())
        rt.command(lambda: rt.reporting.resolve_dead_letter(letter.ref, who, note, ctx))
        row = current(rt, letter)
    emit({"dead_letter": row}, lambda r: presenters.say(
        f"Dead letter {r['dead_letter']['id']} resolved by {r['dead_letter']['resolution']['by']}."))


# -- helpers ----------------------------------------------------------------------------------


def kafka_only() -> KafkaSettings:
    settings = bus_setting()
    if settings is None:
        raise BadInput("CASES_BUS", "dead letters exist only over Kafka (set CASES_BUS=kafka://host:port);"
                                    " the embedded runtime has none: a reaction that fails there fails"
                                    " its command")
    return settings


def parked(settings: KafkaSettings) -> list[DeadLetter]:
    from services.reporting.dead_letters import dead_letters
    from services.runtime.kafka.deadletters import read_dead_letters

    return dead_letters(read_dead_letters(settings))


def current(rt: Deployment, letter: DeadLetter) -> dict[str, Any]:
    from services.reporting.dead_letters import describe

    return describe(letter, rt.reporting.dead_letter_handling(letter.ref))


def show_list(r: dict[str, Any]) -> None:
    """One short block per dead letter (a table of seven columns folds beyond reading)."""
    rows = r["dead_letters"]
    opened = sum(1 for d in rows if d["state"] == "open")
    presenters.say(f"{len(rows)} dead letters, {opened} open." if rows else "No dead letters.")
    for d in rows:
        origin = d["origin"]
        where = f"{origin['topic']}[{origin['partition']}]@{origin['offset']}" if origin else "an unknown place"
        event = f"{d['event_type'] or 'unknown type'}, event {d['event_id'] or 'unknown'}"
        presenters.say(presenters.escape(
            f"{d['id']}  {d['state'].upper()}  {d['consumer']} failed {where} ({event}),"
            f" parked {presenters.london_time(d['parked_at'])}"))
        presenters.say(presenters.escape(f"    reason: {d['reason']}"))
        if d["last_retry"]:
            last = d["last_retry"]
            presenters.say(presenters.escape(
                f"    retried {d['retries']}x; last by {last['by']} at {presenters.london_time(last['at'])}:"
                f" {last['outcome']}"))
        if d["resolution"]:
            res = d["resolution"]
            presenters.say(presenters.escape(
                f"    resolved by {res['by']} at {presenters.london_time(res['at'])}: {res['note']}"))
