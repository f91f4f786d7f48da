"""Commands for running the service: reviewers, the SLA clock, workers, topics, the demo."""

from __future__ import annotations

import typer

from services import presenters
from services.cli.case_commands import case_change
from services.cli.plumbing import (
    OPTIONS,
    app,
    choice,
    context,
    emit,
    parse_case_id,
    read_file,
    require_text,
    review,
    reviewers,
    runtime,
    sla,
)
from services.common.errors import BadInput
from services.review.domain.reviewers_file import parse_reviewers
from services.runtime.kafka.config import bus_from_env, parse_bus
from services.runtime.stores import cases_home


@review.command("decline")
def review_decline(case_id: str, reason: str = typer.Option(..., "--reason",
                   help="capacity, out_of_scope or unavailable")) -> None:
    """The assigned reviewer declines; the case is reassigned."""
    cid = parse_case_id(case_id)
    choice(reason, ("capacity", "out_of_scope", "unavailable"), "--reason")
    case_change(cid, lambda rt: rt.review.decline(cid, reason, context()))


@review.command("conflict")
def review_conflict(case_id: str, nature: str = typer.Option(..., "--nature")) -> None:
    """The assigned reviewer declares a conflict of interest; the case is reassigned."""
    cid = parse_case_id(case_id)
    require_text(nature, "--nature")
    case_change(cid, lambda rt: rt.review.declare_conflict(cid, nature, context()))


@review.command("attend")
def review_attend(case_id: str) -> None:
    """The member attended the further consultation."""
    cid = parse_case_id(case_id)
    case_change(cid, lambda rt: rt.review.attend_appointment(cid, context()))


@reviewers.command("load")
def reviewers_load(file: str = typer.Argument(..., help="Reviewer directory JSON")) -> None:
    """Add or update reviewers in the directory."""
    entries = parse_reviewers(read_file(file))
    with runtime() as rt:
        changed = rt.review.register_reviewers(entries, context())
    emit({"loaded": len(entries), "changed": changed},
         lambda r: presenters.say(f"Loaded {r['loaded']} reviewers ({r['changed']} changed)."))


@sla.command("sweep")
def sla_sweep() -> None:
    """Flag every running review past its due date (every command also does this)."""
    with runtime() as rt:
        states = rt.reporting.views.count_by_status()
        breached = sum(1 for s in rt.reporting.views.all_states() if s["sla_breached"])
    emit({"breached": breached, "by_status": states},
         lambda r: presenters.say(f"{r['breached']} cases breached their SLA."))


@app.command("worker")
def worker(
    service: str = typer.Argument(..., help="intake, records, review or reporting"),
    bus: str | None = typer.Option(None, "--bus", help="kafka://host:port (default: CASES_BUS)"),
    sla_check_seconds: float = typer.Option(60.0, "--sla-check-seconds",
                                            help="review: how often to flag overdue reviews (0: never)"),
    instance: int = typer.Option(0, "--instance", help="this instance's number, from 0"),
    instances: int = typer.Option(1, "--instances", help="how many instances share the partitions"),
) -> None:
    """Run one service as its own process on Kafka until SIGTERM or SIGINT."""
    import logging

    from services.runtime.deployment import SERVICES
    from services.runtime.kafka.worker import Worker

    choice(service, SERVICES, "service")
    try:
        settings = parse_bus(bus) if bus else bus_from_env()
    except ValueError as error:
        raise BadInput("--bus", str(error)) from None
    if settings is None:
        raise BadInput("--bus", "a worker needs Kafka: pass --bus kafka://host:port or set CASES_BUS")
    if not 0 <= instance < instances:
        raise BadInput("--instance", f"must be from 0 to {instances - 1}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    Worker(service, cases_home(OPTIONS.home), settings, sla_check_seconds, instance, instances).run()


@app.command("topics")
def topics(bus: str | None = typer.Option(None, "--bus", help="kafka://host:port (default: CASES_BUS)")) -> None:
    """Create the case topics (partitions, retention forever, replication by broker count)."""
    from services.runtime.kafka.topics import ensure_topics

    try:
        settings = parse_bus(bus) if bus else bus_from_env()
    except ValueError as error:
        raise BadInput("--bus", str(error)) from None
    if settings is None:
        raise BadInput("--bus", "pass --bus kafka://host:port or set CASES_BUS")
    created = ensure_topics(settings)
    emit({"created": created}, lambda r: presenters.say(f"Created {len(r['created'])} topics."))


@app.command("demo")
def demo(
    cases: int = typer.Option(240, "--cases", min=1, help="How many cases to run"),
    seed: int = typer.Option(20251124, "--seed", help="Fixed seed: same batch every time"),
    fresh: bool = typer.Option(True, "--fresh/--keep", help="Start from empty stores"),
) -> None:
    """Load the sample register, run a realistic batch end to end, print a summary."""
    from services.simulation.demo import run_demo

    home = cases_home(OPTIONS.home) / "demo"
    result = run_demo(home, cases=cases, seed=seed, fresh=fresh, quiet=OPTIONS.json)
    emit(result, presenters.demo_summary)
