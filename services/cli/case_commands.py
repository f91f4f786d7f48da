"""The commands of SPEC section 2: policies, cases, consent, records, opinions, reports."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import typer

from services.cli import presenters
from services.cli.plumbing import (
    REQUEST_MAX_BYTES,
    Done,
    app,
    choice,
    consent,
    context,
    emit,
    opinion,
    parse_case_id,
    parse_date,
    parse_moment,
    policies,
    read_file,
    records,
    report,
    require_text,
    resolve_sealed,
    runtime,
    sla,
)
from services.common.errors import BadInput

if TYPE_CHECKING:
    from services.bootstrap import Deployment

# Commands import what they need when they run: `cases --help` and `sla due` load neither
# the stores nor Kafka (bench/ measures a command's start against a bare interpreter).
CONSENT_SCOPES = ("records_access", "third_party_disclosure", "share_with_gp")
RECORD_KINDS = ("clinical_letter", "imaging", "pathology", "blood_test", "treatment_plan", "gp_summary")
OUTCOMES = ("confirmed", "alternative_treatment", "diagnosis_changed", "inconclusive")


@policies.command("load")
def policies_load(file: str = typer.Argument(..., help="Policy register JSON (SPEC section 3)")) -> None:
    """Load or reload policies; a reload is a new event, never a rewrite."""
    from services.intake.register_file import parse_register

    terms = parse_register(read_file(file))
    with runtime() as rt:
        loaded = rt.command(lambda: rt.intake.load_policies(terms, context()))
    emit({"loaded": loaded}, lambda r: presenters.say(f"Loaded {r['loaded']} policies."))


@app.command("open")
def open_case(file: str = typer.Argument(..., help="Case request JSON (SPEC section 4)")) -> None:
    """Open a case: validate the request, decide eligibility, record it either way."""
    from services.intake.request_file import parse_case_request

    ctx = context()
    request = parse_case_request(read_file(file, max_bytes=REQUEST_MAX_BYTES), ctx.today)
    with runtime() as rt:
        opened = rt.command(lambda: rt.intake.open_case(request, ctx))
    emit(opened.as_json(), presenters.opened)


@sla.command("due")
def sla_due(
    start: str = typer.Option(..., "--start", help="Day the review starts (not counted)"),
    working_days: int = typer.Option(..., "--working-days", help="SLA in working days"),
    nation: str = typer.Option(..., "--nation", help="ENG, WLS, SCT or NIR"),
) -> None:
    """The review due date: the N-th working day after the start day."""
    from services.review.domain.sla import NATIONS, due_date

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
    with runtime(reads=True) as rt:
        state = rt.reporting.case_state(cid)
    emit(state, presenters.case_state)


@app.command("replay")
def replay(
    case_id: str = typer.Argument(...),
    as_of: str | None = typer.Option(None, "--as-of", help="ISO time; London time if no zone"),
    steps: bool = typer.Option(False, "--steps", help="Each event with the state after it and what it changed"),
    export: str | None = typer.Option(None, "--export", metavar="DIR",
                                      help="Write replay-CASE.json and a FHIR R5 bundle, fhir-bundle-CASE.json, to DIR"),
) -> None:
    """Every event of the case across the four services in order, the state they fold to, and
    the findings: each disclosure with the consent that allowed it, consent changes, the SLA."""
    from services.reporting.replay import case_events, events_as_of
    from services.reporting.replay import replay as replay_events

    cid = parse_case_id(case_id)
    moment = parse_moment(as_of) if as_of else None
    directory = Path(export) if export else None
    if directory is not None and directory.exists() and not directory.is_dir():
        raise BadInput("--export", f"{export} exists and is not a directory")
    seed = None
    with runtime(reads=True) as rt:
        if directory is not None:  # the bundle is signed by the deployment; a read makes no key
            from services.bootstrap import KEY_FILE, load_keys

            try:
                seed = load_keys(rt.home, create=False).signing
            except FileNotFoundError:
                raise BadInput("--export", f"no {KEY_FILE} in {rt.home} to sign the evidence with") from None
        if rt.replays_from_stores:
            events = case_events(rt.services, cid)
        else:  # over Kafka: what reporting built from the topics
            events = rt.reporting.views.audit_trail(cid)
    if not events:
        raise BadInput("case_id", f"no case {cid}")
    result = {"case_id": str(cid), "as_of": moment.isoformat() if moment else None,
              **replay_events(events, moment, with_steps=steps)}
    if directory is not None and seed is not None:
        from services.reporting.audit.evidence import write_evidence  # fhir.resources: only here

        try:
            # The bundle never holds plaintext: sealed values as "[sealed]" or "[erased]".
            result = write_evidence(directory, resolve_sealed(result, allow_reveal=False),
                                    events_as_of(events, moment), signing_seed=seed)
        except OSError as error:
            raise BadInput("--export", f"cannot write to {export}: {error.strerror or error}") from None
    emit(result, presenters.signed_replay)


@app.command("verify")
def verify(
    expect: str | None = typer.Option(None, "--expect", help="a head digest printed earlier"),
    bundle: str | None = typer.Option(None, "--bundle", metavar="DIR",
                                      help="Check the evidence bundles in DIR (replay --export) instead, offline"),
    public_key: str | None = typer.Option(None, "--public-key", metavar="HEX",
                                          help="With --bundle: the signer required (cases signing-key)"),
) -> None:
    """Check every store's hash chain: no stored event edited, deleted, inserted or swapped.
    With --bundle DIR: check an evidence bundle's files and signature instead, needing no store."""
    if bundle is not None:
        if expect is not None:
            raise BadInput("--expect", "checks the stores; not with --bundle")
        verify_bundle(bundle, public_key)
        return
    if public_key is not None:
        raise BadInput("--public-key", "only with --bundle DIR")
    from services.reporting.verify import verify_stores, verify_topics, with_dead_letters

    if expect is not None and not is_digest(expect):
        raise BadInput("--expect", "must be a head digest as verify printed it (SERVICE:POSITION:16 hex digits, comma-separated)")
    with runtime(reads=True) as rt:
        result = verify_stores(rt.services, expect)
        settings = getattr(rt, "settings", None)
        if settings is not None:  # over Kafka: the topics must match the stores too
            result["broken"] += verify_topics(rt.services, settings)
            result = with_dead_letters(result, rt.services["reporting"], settings)
    emit(result, presenters.verification)
    if not result["ok"]:
        raise Done(1)


def verify_bundle(bundle: str, public_key: str | None) -> None:
    """The offline check of the evidence bundles in a directory (every manifest-CASE.json in
    it): exit 0 when every listed file and every signature hold, 1 if not, 2 with no manifest."""
    from services.reporting.audit.signing import NotABundle, check_bundle, is_public_key

    if public_key is not None:
        public_key = public_key.strip().lower()
        if not is_public_key(public_key):
            raise BadInput("--public-key", "must be an Ed25519 public key: 64 hex digits, as cases signing-key prints it")
    try:
        result = check_bundle(Path(bundle), public_key)
    except NotABundle as error:
        raise BadInput("--bundle", str(error)) from None
    except OSError as error:
        raise BadInput("--bundle", f"cannot read {bundle}: {error.strerror or error}") from None
    emit(result, presenters.bundle_check)
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
        change = rt.records.grant_consent if grant else rt.records.withdraw_consent
        state = rt.case_command(cid, lambda: change(cid, scope, channel, context()))
    emit(presenters.consents_json(state), presenters.consents)


@consent.command("history")
def consent_history(case_id: str) -> None:
    """Every grant and withdrawal on the case, with time, actor and channel."""
    cid = parse_case_id(case_id)
    with runtime(reads=True) as rt:
        rt.reporting.case_state(cid)
        rows = rt.reporting.views.consent_history(cid)
    emit({"case_id": str(cid), "history": rows}, presenters.consent_history)


@records.command("add")
def records_add(case_id: str, kind: str = typer.Option(..., "--kind"),
                source: str = typer.Option(..., "--source")) -> None:
    """Record a medical record received from a source (needs records_access)."""
    cid = parse_case_id(case_id)
    choice(kind, RECORD_KINDS, "--kind")
    require_text(source, "--source")
    records_change(cid, lambda rt: rt.records.add_record(cid, kind, source, context()))


@records.command("request")
def records_request(case_id: str, kind: str = typer.Option(..., "--kind"),
                    source: str = typer.Option(..., "--source")) -> None:
    """Ask a source for records (needs records_access)."""
    cid = parse_case_id(case_id)
    choice(kind, RECORD_KINDS, "--kind")
    require_text(source, "--source")
    records_change(cid, lambda rt: rt.records.request_records(cid, kind, source, context()))


@records.command("unobtainable")
def records_unobtainable(case_id: str, source: str = typer.Option(..., "--source"),
                         reason: str = typer.Option(..., "--reason")) -> None:
    """Record that a source cannot supply records."""
    cid = parse_case_id(case_id)
    require_text(source, "--source")
    records_change(cid, lambda rt: rt.records.mark_unobtainable(cid, source, reason, context()))


@records.command("complete")
def records_complete(case_id: str) -> None:
    """Judge the records complete; review starts once the model's consents are in force."""
    cid = parse_case_id(case_id)
    records_change(cid, lambda rt: rt.records.complete_records(cid, context()))


def records_change(cid: UUID, change: Callable[[Deployment], None]) -> None:
    with runtime() as rt:
        state = rt.case_command(cid, lambda: change(rt))
    emit(presenters.records_json(state), presenters.records)


@opinion.command("submit")
def opinion_submit(case_id: str, outcome: str = typer.Option(..., "--outcome"),
                   summary: str = typer.Option(..., "--summary"),
                   reviewer: str = typer.Option(..., "--reviewer")) -> None:
    """Submit the reviewer's opinion on a case in review."""
    cid = parse_case_id(case_id)
    choice(outcome, OUTCOMES, "--outcome")
    require_text(summary, "--summary")
    require_text(reviewer, "--reviewer")
    case_change(cid, lambda rt: rt.review.submit_opinion(cid, outcome, summary, reviewer,
                                                          context(reviewer)))


@report.command("deliver")
def report_deliver(case_id: str) -> None:
    """Send the report to the member, and to the GP where share_with_gp is in force."""
    cid = parse_case_id(case_id)
    case_change(cid, lambda rt: rt.reporting.deliver_report(cid, context()))


@app.command("cancel")
def cancel(case_id: str, reason: str = typer.Option("member_request", "--reason"),
           by: str = typer.Option("member", "--by", help="member or insurer")) -> None:
    """Cancel a case at the member's request; collection and review stop."""
    cid = parse_case_id(case_id)
    choice(by, ("member", "insurer"), "--by")
    case_change(cid, lambda rt: rt.intake.cancel_case(cid, reason, by, context()))  # type: ignore[arg-type]


@app.command("close")
def close(case_id: str, reason: str = typer.Option("report_issued", "--reason")) -> None:
    """Close a case once its report has gone out."""
    cid = parse_case_id(case_id)
    case_change(cid, lambda rt: rt.reporting.close_case(cid, reason, context()))


def case_change(cid: UUID, change: Callable[[Deployment], None]) -> None:
    with runtime() as rt:
        state = rt.case_command(cid, lambda: change(rt))
    emit(state, presenters.case_state)


HEAD_DIGEST = re.compile(r"(intake|records|review|reporting):\d+:[0-9a-f]{16}(,(intake|records|review|reporting):\d+:[0-9a-f]{16})*")


def is_digest(text: str) -> bool:
    """A head digest as verify prints it: SERVICE:POSITION:16 hex digits, comma-separated."""
    return HEAD_DIGEST.fullmatch(text.strip()) is not None
