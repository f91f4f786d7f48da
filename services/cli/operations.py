"""Commands for running the service: reviewers, the SLA clock, workers, topics, the demo."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from services.cli import presenters
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
from services.runtime.stores import cases_home

if TYPE_CHECKING:
    from services.runtime.kafka.config import KafkaSettings


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
    """Add or update reviewers in the directory; reviews waiting for one are assigned."""
    from services.review.reviewers_file import parse_reviewers

    entries = parse_reviewers(read_file(file))
    with runtime() as rt:
        changed = rt.command(lambda: rt.review.register_reviewers(entries, context()))
    emit({"loaded": len(entries), "changed": changed},
         lambda r: presenters.say(f"Loaded {r['loaded']} reviewers ({r['changed']} changed)."))


@sla.command("sweep")
def sla_sweep() -> None:
    """Flag every running review past its due date (every command that writes also does
    this, embedded; over Kafka the review worker's timer does)."""
    with runtime() as rt:
        rt.tick()
        states = rt.reporting.views.count_by_status()
        breached = sum(1 for s in rt.reporting.views.all_states() if s["sla_breached"])
    emit({"breached": breached, "by_status": states},
         lambda r: presenters.say(f"{r['breached']} cases breached their SLA."))


@app.command("erase")
def erase(case_id: str, reason: str = typer.Option(..., "--reason", help="Why (the member's request, ...)")) -> None:
    """Erase the member of this case (UK GDPR): their key is destroyed, so their identifiers
    and sealed free text can no longer be read anywhere; refused while a case of theirs is open."""
    cid = parse_case_id(case_id)
    require_text(reason, "--reason")
    with runtime() as rt:
        result = rt.erase_member(cid, reason, context())
    emit(result, lambda r: presenters.say(
        f"Erased member {r['erased']}: {len(r['cases'])} case(s); their history stays, their data is unreadable."))


@app.command("worker")
def worker(
    service: str = typer.Argument(..., help="intake, records, review, reporting or analytics"),
    bus: str | None = typer.Option(None, "--bus", help="kafka://host:port (default: CASES_BUS)"),
    sla_check_seconds: float = typer.Option(60.0, "--sla-check-seconds",
                                            help="review: how often to flag overdue reviews (0: never)"),
    instance: int = typer.Option(0, "--instance", hidden=True,
                                 help="deprecated and ignored: instances share the partitions as a group"),
    instances: int = typer.Option(1, "--instances", hidden=True,
                                  help="deprecated and ignored: instances share the partitions as a group"),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", min=0, max=65535,
        help="serve Prometheus metrics on this port (0: off; default: CASES_METRICS_PORT_<SERVICE>,"
             " then CASES_METRICS_PORT, else off; by convention intake 9301, records 9302,"
             " review 9303, reporting 9304)"),
) -> None:
    """Run one service as its own process on Kafka until SIGTERM or SIGINT."""
    import logging
    import os

    from services.bootstrap import SERVICES, build_service, companions_of, leaders_of, load_keys
    from services.runtime.kafka.worker import Worker

    choice(service, (*SERVICES, "analytics"), "service")
    settings = required_bus(bus)
    if service == "analytics":  # reporting's faust agent: no store of its own, one instance
        from services.reporting.analytics.agent import run_analytics_worker

        run_analytics_worker(settings, load_keys(cases_home(OPTIONS.home)).analytics, loglevel="info")
        return
    if metrics_port is None:  # per service first: the four workers often share one environment
        variable = next((v for v in (f"CASES_METRICS_PORT_{service.upper()}", "CASES_METRICS_PORT")
                         if os.environ.get(v)), "")
        port_text = os.environ.get(variable, "0") if variable else "0"
        if not port_text.isdigit() or int(port_text) > 65535:
            raise BadInput("--metrics-port", f"{variable} is not a port: {port_text!r}")
        metrics_port = int(port_text)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if instance or instances != 1:
        # Start as many workers of a service as you like: its consumer group shares the
        # partitions and moves them when one stops; one of them at a time relays the outbox.
        logging.getLogger("cases.worker").warning("--instance/--instances are deprecated and ignored")
    app = build_service(service, cases_home(OPTIONS.home))
    Worker(app, leaders_of(service), settings, sla_check_seconds, metrics_port=metrics_port,
           companions=companions_of(service, app, settings, cases_home(OPTIONS.home))).run()


@app.command("topics")
def topics(bus: str | None = typer.Option(None, "--bus", help="kafka://host:port (default: CASES_BUS)")) -> None:
    """Create the case topics (partitions, retention forever, replication by broker count)."""
    from services.runtime.kafka.topics import ensure_topics

    created = ensure_topics(required_bus(bus))
    emit({"created": created}, lambda r: presenters.say(f"Created {len(r['created'])} topics."))


@app.command("demo")
def demo(
    cases: int = typer.Option(240, "--cases", min=1, help="How many cases to run"),
    seed: int = typer.Option(20251124, "--seed", help="Fixed seed: same batch every time"),
    fresh: bool = typer.Option(True, "--fresh/--keep", help="Start from empty stores"),
    partners: bool = typer.Option(False, "--partners", help="Over Kafka (CASES_BUS, the four workers running "
                                  "on this --home): a third-party case answered by the example partner"),
) -> None:
    """Load the sample register, run a realistic batch end to end, print a summary."""
    if partners:
        from services.cli.partner_demo import run_partner_demo, show
        from services.cli.plumbing import bus_setting

        settings = bus_setting()
        if settings is None:
            raise BadInput("--partners", "runs over Kafka: set CASES_BUS=kafka://127.0.0.1:9092")
        emit(run_partner_demo(cases_home(OPTIONS.home), settings, quiet=OPTIONS.json), show)
        return
    from services.simulation.demo import run_demo

    home = cases_home(OPTIONS.home) / "demo"
    result = run_demo(home, cases=cases, seed=seed, fresh=fresh, quiet=OPTIONS.json)
    emit(result, presenters.demo_summary)


def required_bus(bus: str | None) -> KafkaSettings:
    """--bus, else CASES_BUS: commands that only make sense on Kafka."""
    from services.runtime.kafka.config import bus_from_env, parse_bus

    try:
        settings = parse_bus(bus) if bus else bus_from_env()
    except ValueError as error:
        raise BadInput("--bus", str(error)) from None
    if settings is None:
        raise BadInput("--bus", "this needs Kafka: pass --bus kafka://host:port or set CASES_BUS")
    return settings
