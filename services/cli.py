"""`cases`: the command line of SPEC section 2, a thin layer over the four services.

Every command: parse and validate (exit 2, field named, nothing recorded), one call to the
owning service, pump the followers, print the result (one JSON object with --json).
Business refusals exit 1 with the reason.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import typer

from events.records import CONSENT_SCOPES, RECORD_KINDS
from events.review import OUTCOMES
from services import presenters
from services.common.context import LONDON, Context, SystemClock
from services.common.errors import BadInput, Refused, ServiceUnavailable
from services.intake.domain.register_file import parse_register
from services.intake.domain.request import parse_case_request
from services.review.domain.reviewers_file import parse_reviewers
from services.review.domain.sla import NATIONS, due_date
from services.runtime.embedded import Deployment, EmbeddedRuntime
from services.runtime.kafka.config import bus_from_env, parse_bus
from services.runtime.stores import cases_home


@dataclass
class Options:
    home: str | None = None
    json: bool = False


OPTIONS = Options()
CLOCK = SystemClock()  # one clock for commands and reactions: readings never repeat
app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Second medical opinion cases: intake, records, review, reporting.")
policies = typer.Typer(no_args_is_help=True, help="The policy register.")
consent = typer.Typer(no_args_is_help=True, help="Member consent per scope.")
records = typer.Typer(no_args_is_help=True, help="Medical records collection.")
opinion = typer.Typer(no_args_is_help=True, help="Reviewer opinions.")
report = typer.Typer(no_args_is_help=True, help="The second-opinion report.")
sla = typer.Typer(no_args_is_help=True, help="Review service levels.")
review = typer.Typer(no_args_is_help=True, help="Reviewer assignment and appointments.")
reviewers = typer.Typer(no_args_is_help=True, help="The reviewer directory.")
for sub, name in ((policies, "policies"), (consent, "consent"), (records, "records"),
                  (opinion, "opinion"), (report, "report"), (sla, "sla"), (review, "review"),
                  (reviewers, "reviewers")):
    app.add_typer(sub, name=name)


# -- plumbing ---------------------------------------------------------------------------------


class Done(Exception):
    def __init__(self, code: int):
        self.code = code


def emit(result: dict[str, Any], human: Callable[[dict[str, Any]], None] | None = None) -> None:
    if OPTIONS.json or human is None:
        presenters.print_json(result)
    else:
        human(result)


@contextmanager
def runtime() -> Iterator[Deployment]:
    """The deployment under --home: embedded by default, or over Kafka with CASES_BUS.

    Embedded, every command is also the clock's tick and finishes what a process that
    died left half-way. Over Kafka, the workers do both."""
    try:
        bus = bus_from_env()
    except ValueError as error:
        raise BadInput("CASES_BUS", str(error)) from None
    home = cases_home(OPTIONS.home)
    rt: Deployment
    if bus is None:
        rt = EmbeddedRuntime(home, CLOCK)
    else:
        from services.runtime.kafka.bus import BusRuntime

        rt = BusRuntime(home, bus, CLOCK)
    try:
        if bus is None:  # over Kafka the workers finish crashed work and tick the SLA clock
            rt.pump()
            rt.flag_overdue_reviews()
        yield rt
    finally:
        rt.close()


def context(actor: str = "case_handler") -> Context:
    return Context(actor=f"user:{actor}", now=CLOCK.now())


def parse_case_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise BadInput("case_id", f"'{text}' is not a case id") from None


def read_file(path: str, field: str = "FILE") -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise BadInput(field, f"no such file: {path}") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as error:
        raise BadInput(field, f"cannot read {path}: {error.__class__.__name__}") from None


def check_case_open(rt: Deployment, case_id: UUID) -> dict[str, Any]:
    """Unknown case: bad input. Declined or cancelled case: refused, whatever the command."""
    state = rt.reporting.case_state(case_id)
    if state["status"] == "declined":
        raise Refused("case_declined", "the case was declined at eligibility")
    if state["status"] == "cancelled":
        raise Refused("case_cancelled", "the case was cancelled")
    return state


def after_change(rt: Deployment, case_id: UUID) -> dict[str, Any]:
    rt.pump()
    return rt.reporting.case_state(case_id)


def choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise BadInput(field, f"'{value}' is not one of {', '.join(allowed)}")
    return value


# -- SPEC commands ----------------------------------------------------------------------------


@policies.command("load")
def policies_load(file: str = typer.Argument(..., help="Policy register JSON (SPEC section 3)")) -> None:
    """Load or reload policies; a reload is a new event, never a rewrite."""
    terms = parse_register(read_file(file))
    with runtime() as rt:
        loaded = rt.intake.load_policies(terms, context())
        rt.pump()
    emit({"loaded": loaded}, lambda r: presenters.say(f"Loaded {r['loaded']} policies."))


@app.command("open")
def open_case(file: str = typer.Argument(..., help="Case request JSON (SPEC section 4)")) -> None:
    """Open a case: validate the request, decide eligibility, record it either way."""
    ctx = context()
    request = parse_case_request(read_file(file), ctx.today)
    with runtime() as rt:
        opened = rt.intake.open_case(request, ctx)
        rt.pump()
    emit(opened.as_json(), presenters.opened)


@sla.command("due")
def sla_due(
    start: str = typer.Option(..., "--start", help="Day the review starts (not counted)"),
    working_days: int = typer.Option(..., "--working-days", help="SLA in working days"),
    nation: str = typer.Option(..., "--nation", help="ENG, WLS, SCT or NIR"),
) -> None:
    """The review due date: the N-th working day after the start day."""
    start_day = parse_date(start, "--start")
    if working_days < 0:
        raise BadInput("--working-days", "must not be negative")
    choice(nation, NATIONS, "--nation")
    emit({"due": due_date(start_day, working_days, nation).isoformat()},
         lambda r: presenters.say(f"Due {r['due']}"))


@app.command("show")
def show(case_id: str = typer.Argument(...)) -> None:
    """The current case state, as reporting projected it."""
    cid = parse_case_id(case_id)
    with runtime() as rt:
        state = rt.reporting.case_state(cid)
    emit(state, presenters.case_state)


@app.command("replay")
def replay(
    case_id: str = typer.Argument(...),
    as_of: str | None = typer.Option(None, "--as-of", help="ISO time; London time if no zone"),
) -> None:
    """Every event of the case across the four services in order, and the state they fold to."""
    from services.reporting.replay import case_events
    from services.reporting.replay import replay as replay_events

    cid = parse_case_id(case_id)
    moment = parse_moment(as_of) if as_of else None
    with runtime() as rt:
        if rt.replays_from_stores:
            events = case_events(rt.services, cid)
        else:  # over Kafka: what reporting built from the topics
            events = rt.reporting.views.audit_trail(cid)
    if not events:
        raise BadInput("case_id", f"no case {cid}")
    result = {"case_id": str(cid), "as_of": moment.isoformat() if moment else None,
              **replay_events(events, moment)}
    emit(result, presenters.replay)


@app.command("verify")
def verify() -> None:
    """Check every store's log: each event decodes and each stream is gapless and ordered."""
    from services.reporting.verify import verify_stores

    with runtime() as rt:
        result = verify_stores(rt.services)
    emit(result, presenters.verification)
    if not result["ok"]:
        raise Done(1)


@consent.command("grant")
def consent_grant(case_id: str, scope: str = typer.Option(..., "--scope"),
                  channel: str = typer.Option("case_handler", "--channel", help="How it was given")) -> None:
    """Record the member's consent for one scope."""
    _consent(case_id, scope, channel, grant=True)


@consent.command("withdraw")
def consent_withdraw(case_id: str, scope: str = typer.Option(..., "--scope"),
                     channel: str = typer.Option("case_handler", "--channel")) -> None:
    """Record the withdrawal of one consent scope; what it allowed stops."""
    _consent(case_id, scope, channel, grant=False)


def _consent(case_id: str, scope: str, channel: str, *, grant: bool) -> None:
    cid = parse_case_id(case_id)
    choice(scope, CONSENT_SCOPES, "--scope")
    with runtime() as rt:
        check_case_open(rt, cid)
        change = rt.records.grant_consent if grant else rt.records.withdraw_consent
        change(cid, scope, channel, context())
        state = after_change(rt, cid)
    emit(presenters.consents_json(state), presenters.consents)


@consent.command("history")
def consent_history(case_id: str) -> None:
    """Every grant and withdrawal on the case, with time, actor and channel."""
    cid = parse_case_id(case_id)
    with runtime() as rt:
        rt.reporting.case_state(cid)
        rows = rt.reporting.views.consent_history(cid)
    emit({"case_id": str(cid), "history": rows}, presenters.consent_history)


@records.command("add")
def records_add(case_id: str, kind: str = typer.Option(..., "--kind"),
                source: str = typer.Option(..., "--source")) -> None:
    """Record a medical record received from a source (needs records_access)."""
    cid = parse_case_id(case_id)
    choice(kind, RECORD_KINDS, "--kind")
    _require_text(source, "--source")
    _records_change(cid, lambda rt: rt.records.add_record(cid, kind, source, context()))


@records.command("request")
def records_request(case_id: str, kind: str = typer.Option(..., "--kind"),
                    source: str = typer.Option(..., "--source")) -> None:
    """Ask a source for records (needs records_access)."""
    cid = parse_case_id(case_id)
    choice(kind, RECORD_KINDS, "--kind")
    _require_text(source, "--source")
    _records_change(cid, lambda rt: rt.records.request_records(cid, kind, source, context()))


@records.command("unobtainable")
def records_unobtainable(case_id: str, source: str = typer.Option(..., "--source"),
                         reason: str = typer.Option(..., "--reason")) -> None:
    """Record that a source cannot supply records."""
    cid = parse_case_id(case_id)
    _require_text(source, "--source")
    _records_change(cid, lambda rt: rt.records.mark_unobtainable(cid, source, reason, context()))


@records.command("complete")
def records_complete(case_id: str) -> None:
    """Judge the records complete; review starts once the model's consents are in force."""
    cid = parse_case_id(case_id)
    _records_change(cid, lambda rt: rt.records.complete_records(cid, context()))


def _records_change(cid: UUID, change: Callable[[Deployment], None]) -> None:
    with runtime() as rt:
        check_case_open(rt, cid)
        change(rt)
        state = after_change(rt, cid)
    emit(presenters.records_json(state), presenters.records)


@opinion.command("submit")
def opinion_submit(case_id: str, outcome: str = typer.Option(..., "--outcome"),
                   summary: str = typer.Option(..., "--summary"),
                   reviewer: str = typer.Option(..., "--reviewer")) -> None:
    """Submit the reviewer's opinion on a case in review."""
    cid = parse_case_id(case_id)
    choice(outcome, OUTCOMES, "--outcome")
    _require_text(summary, "--summary")
    _require_text(reviewer, "--reviewer")
    _case_change(cid, lambda rt: rt.review.submit_opinion(cid, outcome, summary, reviewer,
                                                          context(reviewer)))


@report.command("deliver")
def report_deliver(case_id: str) -> None:
    """Send the report to the member, and to the GP where share_with_gp is in force."""
    cid = parse_case_id(case_id)
    _case_change(cid, lambda rt: rt.reporting.deliver_report(cid, context()))


@app.command("cancel")
def cancel(case_id: str, reason: str = typer.Option("member_request", "--reason"),
           by: str = typer.Option("member", "--by", help="member or insurer")) -> None:
    """Cancel a case at the member's request; collection and review stop."""
    cid = parse_case_id(case_id)
    choice(by, ("member", "insurer"), "--by")
    _case_change(cid, lambda rt: rt.intake.cancel_case(cid, reason, by, context()))  # type: ignore[arg-type]


@app.command("close")
def close(case_id: str, reason: str = typer.Option("report_issued", "--reason")) -> None:
    """Close a case once its report has gone out."""
    cid = parse_case_id(case_id)
    _case_change(cid, lambda rt: rt.reporting.close_case(cid, reason, context()))


@review.command("decline")
def review_decline(case_id: str, reason: str = typer.Option(..., "--reason",
                   help="capacity, out_of_scope or unavailable")) -> None:
    """The assigned reviewer declines; the case is reassigned."""
    cid = parse_case_id(case_id)
    choice(reason, ("capacity", "out_of_scope", "unavailable"), "--reason")
    _case_change(cid, lambda rt: rt.review.decline(cid, reason, context()))


@review.command("conflict")
def review_conflict(case_id: str, nature: str = typer.Option(..., "--nature")) -> None:
    """The assigned reviewer declares a conflict of interest; the case is reassigned."""
    cid = parse_case_id(case_id)
    _require_text(nature, "--nature")
    _case_change(cid, lambda rt: rt.review.declare_conflict(cid, nature, context()))


@review.command("attend")
def review_attend(case_id: str) -> None:
    """The member attended the further consultation."""
    cid = parse_case_id(case_id)
    _case_change(cid, lambda rt: rt.review.attend_appointment(cid, context()))


def _case_change(cid: UUID, change: Callable[[Deployment], None]) -> None:
    with runtime() as rt:
        check_case_open(rt, cid)
        change(rt)
        state = after_change(rt, cid)
    emit(state, presenters.case_state)


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


# -- parsing helpers --------------------------------------------------------------------------


def parse_date(text: str, field: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise BadInput(field, f"'{text}' is not an ISO date (YYYY-MM-DD)") from None


def parse_moment(text: str) -> datetime:
    """ISO time; without a zone it is London time; a bare date means the end of that day."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1), time(), LONDON) - timedelta(microseconds=1)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput("--as-of", f"'{text}' is not an ISO time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=LONDON)


def _require_text(value: str, field: str) -> None:
    if not value.strip():
        raise BadInput(field, "must not be empty")


# -- entry point ------------------------------------------------------------------------------


def split_global_options(argv: list[str]) -> list[str]:
    """--home and --json are accepted anywhere on the line, before or after the command."""
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--json":
            OPTIONS.json = True
        elif arg == "--home":
            OPTIONS.home = next(args, None)
            if OPTIONS.home is None:
                raise BadInput("--home", "needs a directory")
        elif arg.startswith("--home="):
            OPTIONS.home = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return rest


def main(argv: list[str] | None = None) -> int:
    OPTIONS.home, OPTIONS.json = None, False
    try:
        args = split_global_options(list(sys.argv[1:] if argv is None else argv))
        app(args=args, prog_name="cases", standalone_mode=False)
        return 0
    except BadInput as error:
        presenters.bad_input(error, OPTIONS.json)
        return 2
    except Refused as error:
        presenters.refused(error, OPTIONS.json)
        return 1
    except Done as done:
        return done.code
    except ServiceUnavailable as error:
        presenters.unavailable(error, OPTIONS.json)
        return 3
    except typer.Abort:
        return 1
    except typer.Exit as done:
        return done.exit_code
    except typer.exceptions.TyperException as error:  # usage errors: exit 2, like bad input
        presenters.usage_error(error, OPTIONS.json)
        return getattr(error, "exit_code", 2)


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
