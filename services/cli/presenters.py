"""How results look: one JSON object with --json, readable tables otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import orjson

from services.common.errors import BadInput, Refused

if TYPE_CHECKING:
    from rich.console import Console


class _LazyConsole:
    """rich loads on the first thing printed for people: --json and sla due never pay for it."""

    def __init__(self, stderr: bool = False):
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr, highlight=False)
        return getattr(self._console, name)


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def Table(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 - stands in for rich's class
    """A rich table whose cells wrap rather than end in an ellipsis: at 80 columns an id or
    a time is folded onto two lines, never cut to nothing."""
    from rich.table import Table as RichTable

    class FoldingTable(RichTable):
        def add_column(self, *a: Any, **k: Any) -> None:
            k.setdefault("overflow", "fold")
            super().add_column(*a, **k)

    return FoldingTable(*args, **kwargs)


out: Any = _LazyConsole()
err: Any = _LazyConsole(stderr=True)


@contextmanager
def progress(label: str, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A transient progress bar counting what the block reports, on a terminal only: to a
    pipe, a file or with --json nothing is drawn, and rich's progress module is not loaded."""
    if not enabled or not sys.stdout.isatty():
        yield lambda n: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda n: bar.advance(task, n)


def print_json(result: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


def say(text: str) -> None:
    out.print(text)


def bad_input(error: BadInput, as_json: bool) -> None:
    err.print(f"error: {error.field}: {error.problem}")
    if as_json:
        print_json({"error": "bad_input", "field": error.field, "problem": error.problem})


def usage_error(error: Any, as_json: bool) -> None:
    message = error.format_message()
    err.print(f"error: {message}")
    if as_json:
        print_json({"error": "bad_input", "field": usage_field(error), "problem": message})


def usage_field(error: Any) -> str:
    """The option or argument a usage error is about, as the user wrote it."""
    param = getattr(error, "param", None)
    if param is not None:
        opts = getattr(param, "opts", None) or []
        long = [o for o in opts if o.startswith("--")]
        if long or opts:
            return str((long or opts)[0])
        if getattr(param, "name", None):
            return str(param.name).upper()
    return str(getattr(error, "param_hint", None) or "arguments")


def refused(error: Refused, as_json: bool) -> None:
    if as_json:
        print_json({"error": "refused", "reason": error.code, "message": error.message})
    err.print(f"refused: {error.code}: {error.message}")


def unavailable(error: Exception, as_json: bool) -> None:
    err.print(f"unavailable: {error}")
    if as_json:
        print_json({"error": "unavailable", "message": str(error)})


def opened(r: dict[str, Any]) -> None:
    if r["status"] == "accepted":
        say(f"Case {r['case_id']} accepted ({r['model']}). Next: the member's records_access consent.")
    else:
        say(f"Case {r['case_id']} declined: {', '.join(r['reasons'])}")


def consents_json(state: dict[str, Any]) -> dict[str, Any]:
    return {"case_id": state["case_id"], "status": state["status"], "consents": state["consents"],
            "consent_events": state["consent_events"]}


def consents(r: dict[str, Any]) -> None:
    say(f"Case {r['case_id']} ({r['status']}): consents in force: {', '.join(r['consents']) or 'none'}")


def records_json(state: dict[str, Any]) -> dict[str, Any]:
    return {"case_id": state["case_id"], "status": state["status"], "records": state["records"],
            "records_requested": state["records_requested"],
            "records_unobtainable": state["records_unobtainable"],
            "records_complete": state["records_complete"]}


def records(r: dict[str, Any]) -> None:
    table = Table(title=f"Records of case {r['case_id']} ({r['status']})")
    for col in ("kind", "source", "received at"):
        table.add_column(col)
    for rec in r["records"]:
        table.add_row(rec["kind"], rec["source"], rec["received_at"])
    out.print(table)
    say(f"complete: {r['records_complete']}")


def case_state(s: dict[str, Any]) -> None:
    table = Table(title=f"Case {s['case_id']}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = [
        ("status", s["status"]), ("model", s["model"]), ("insurer", s["insurer"]),
        ("policy", s["policy_number"]), ("condition", s["condition"]), ("specialty", s["specialty"]),
        ("nation", s["nation"]),
        ("eligibility", _eligibility(s)), ("consents", ", ".join(s["consents"]) or "none"),
        ("records", f"{len(s['records'])} received" + (", complete" if s["records_complete"] else "")),
        ("review due", s["review_due"]), ("sla breached", s["sla_breached"]),
        ("opinion", (s["opinion"] or {}).get("outcome")),
        ("report recipients", ", ".join(s["report_recipients"]) or "-"),
        ("suspended", s["suspended_reason"]), ("updated", s["updated_at"]),
    ]
    for key, value in rows:
        table.add_row(key, "-" if value is None else escape(str(value)))
    out.print(table)


def _eligibility(s: dict[str, Any]) -> str:
    e = s["eligibility"] or {}
    if not e:
        return "-"
    reasons = ", ".join(e["reasons"])
    return f"{e['decision']}" + (f" ({reasons})" if reasons else "") + f" [{e['rule_version']}]"


def replay(r: dict[str, Any]) -> None:
    title = f"Replay of case {r['case_id']}" + (f" as of {r['as_of']}" if r.get("as_of") else "")
    steps = any("changed" in e for e in r["events"])
    flagged = {f["event_id"] for f in r.get("findings", []) if f.get("event_id")}
    table = Table(title=title)
    for col in ("#", "at", "service", "event", "actor", *(("changed",) if steps else ())):
        table.add_column(col)
    for i, e in enumerate(r["events"], 1):
        row = [str(i), london_time(e["at"]), e["service"], escape(e["type"]), escape(e["actor"])]
        if steps:
            row.append(escape(_changes(e.get("changed", {}))))
        table.add_row(*row, style="bold red" if e.get("event_id") in flagged else None)
    out.print(table)
    if r["state"]:
        case_state(r["state"])
    if "findings" in r:
        _replay_findings(r)
    for path in r.get("exported", []):
        say(f"Evidence written: {escape(path)}")


def _changes(changed: dict[str, Any]) -> str:
    """The keys an event changed; the status with its move; a case's first event as such."""
    if changed and all(c["before"] is None for c in changed.values()) and "case_id" in changed:
        return f"case created ({changed.get('status', {}).get('after', '-')})"
    parts: list[str] = []
    for key, change in changed.items():
        if key == "status":
            parts.insert(0, f"status {change['before'] or '-'} -> {change['after'] or '-'}")
        else:
            parts.append(key)
    return ", ".join(parts)


def _replay_findings(r: dict[str, Any]) -> None:
    disclosures = r.get("disclosures", [])
    table = Table(title="Disclosures and the consent that allowed each")
    for col in ("at", "kind", "event", "recipient", "consent", "scope", "valid"):
        table.add_column(col)
    for d in disclosures:
        consent = d["consent_event_id"] or ("not needed" if d["valid"] else "none")
        valid = "yes" if d["valid"] else f"NO: {d['problem']}"
        table.add_row(london_time(d["at"]), d["kind"], d["type"], escape(d["recipient"]), consent,
                      d["consent_scope"] or "-", valid, style=None if d["valid"] else "bold red")
    if disclosures:
        out.print(table)
    else:
        say("Disclosures: none")
    changes = r.get("consent_changes", [])
    if changes:
        table = Table(title="Consent changes")
        for col in ("at", "action", "scope", "actor", "channel", "event"):
            table.add_column(col)
        for c in changes:
            table.add_row(london_time(c["at"]), c["action"], c["scope"], escape(c["actor"]),
                          escape(c["channel"]), c["event_id"])
        out.print(table)
    sla = r.get("sla") or {}
    if sla.get("started_on"):
        met = {True: "met", False: "NOT met", None: "opinion not in yet"}[sla["met"]]
        used = sla["working_days_used"]
        line = (f"SLA: {sla['sla_working_days']} working days ({sla['nation']}), started {sla['started_on']}, "
                f"due {sla['due_on']}: {met}" + (f", {used} working days used" if used is not None else "")
                + ("; BREACHED" if sla["breached"] else ""))
        out.print(f"[bold red]{escape(line)}[/bold red]" if sla["breached"] else escape(line))
    else:
        say("SLA: the review has not started")
    findings = r.get("findings", [])
    if not findings:
        out.print("[bold green]Findings: none[/bold green]")
    for f in findings:
        out.print(f"[bold red]FINDING ({f['severity']}) {f['kind']}[/bold red]: {escape(f.get('detail', ''))}"
                  + (escape(f" [event {f['event_id']}]") if f.get("event_id") else ""))


def london_time(iso: str) -> str:
    from datetime import datetime

    from services.common.context import LONDON

    return datetime.fromisoformat(iso).astimezone(LONDON).strftime("%Y-%m-%d %H:%M")


def verification(r: dict[str, Any]) -> None:
    say(f"{'OK' if r['ok'] else 'BROKEN'}: {r['events']} events checked")
    for b in r["broken"]:
        event = f" ({b['type']} v{b['version']} of {b['stream']})" if b.get("type") else ""
        say(f"  {b['service']} #{b['position']}{event}: {b['problem']}")
    say(f"head digest: {r['head']}")


def consent_history(r: dict[str, Any]) -> None:
    table = Table(title=f"Consent history of case {r['case_id']}")
    for col in ("at", "scope", "action", "actor", "channel"):
        table.add_column(col)
    for row in r["history"]:
        table.add_row(london_time(row["at"]), row["scope"], row["action"], row["actor"], row["channel"])
    out.print(table)


def analytics(r: dict[str, Any]) -> None:
    table = Table(title=f"Weekly analytics ({r['cases']} cases, de-identified)")
    for col in ("week", "opened", "accepted", "declined", "opinions", "median days", "breaches"):
        table.add_column(col, no_wrap=True)
    table.add_column("declined by reason")
    for w in r["weeks"]:
        reasons = ", ".join(f"{k} {v}" for k, v in w["declined_by_reason"].items())
        table.add_row(w["week"], str(w["opened"]), str(w["accepted"]), str(w["declined"]),
                      str(w["opinions"]), str(w["median_working_days_to_opinion"] or "-"),
                      str(w["sla_breach_rate"] if w["sla_breach_rate"] is not None else "-"), reasons)
    out.print(table)


def demo_summary(r: dict[str, Any]) -> None:
    print_where(r)
    out.print(f"[bold]Demo batch[/bold]: {r['cases']} cases (seed {r['seed']})")
    table = Table(title="Cases by status")
    table.add_column("status")
    table.add_column("cases", justify="right")
    for status, n in r["by_status"].items():
        table.add_row(status, str(n))
    out.print(table)
    table = Table(title="Cases by delivery model and outcome")
    for col in ("model", "outcome", "cases"):
        table.add_column(col, justify="right" if col == "cases" else "left")
    for row in r["by_model_outcome"]:
        table.add_row(row["model"], row["outcome"], str(row["cases"]))
    out.print(table)
    table = Table(title="Declined at eligibility, by reason")
    table.add_column("reason")
    table.add_column("cases", justify="right")
    for reason, n in r["declined_by_reason"].items():
        table.add_row(reason, str(n))
    out.print(table)
    out.print(f"Opinions: {r['opinions']}; median working days from review start to opinion: "
              f"[bold]{r['median_working_days_to_opinion']}[/bold]")
    out.print(f"SLA breaches: [bold]{r['sla_breaches']}[/bold]")
    out.print(f"Unhappy paths run: {r['unhappy_paths']}")
    out.print(f"Commands refused by a business rule: {r['refusals'] or 'none'}")
    if r["replay"]:
        replay({**r["replay"], "as_of": None})


def print_where(r: dict[str, Any]) -> None:
    out.print(f"The demo's stores are in [bold]{r['home']}[/bold]: look a case up with"
              f" `cases --home {r['home']} show CASE_ID`.")



def signed_replay(r: dict[str, Any]) -> None:
    """The replay, and where it was exported, whose key signed the bundle."""
    replay(r)
    signed = r.get("signed")
    if signed:
        say(f"Signed by the deployment's key {signed['public_key']}: {escape(signed['manifest'])}")
        say(f"Check it with: cases verify --bundle {escape(signed['bundle'])} --public-key {signed['public_key']}")


def bundle_check(r: dict[str, Any]) -> None:
    """The check of a directory's evidence bundles: each case, each file, what is wrong, the
    signatures and their signer."""
    from services.reporting.audit.signing import looks_like_bundle_file

    one = len(r["cases"]) == 1
    cases = ("case " if one else "cases ") + ", ".join(escape(c) for c in r["cases"])
    if r["ok"]:
        out.print(f"[bold green]OK[/bold green]: {len(r['files'])} files as signed, "
                  f"{'signature' if one else 'signatures'} valid ({cases})")
    else:
        out.print(f"[bold red]NOT OK[/bold red]: {escape(r['bundle'])} ({cases})")
    changed, missing = set(r["changed"]), set(r["missing"])
    for name in r["files"]:
        status = "CHANGED since signed" if name in changed else "MISSING" if name in missing else "ok"
        say(f"  {escape(name)}: {status}")
    for name in sorted(missing - set(r["files"])):
        say(f"  {escape(name)}: MISSING")
    for name in r["unexpected"]:
        say(f"  {escape(name)}: " + ("NOT IN ANY MANIFEST" if looks_like_bundle_file(name)
                                      else "not in any manifest (allowed: not a bundle file)"))
    for problem in r["problems"]:
        say(f"  {escape(problem)}")
    say(f"signature: {r['signature']}; signer named by the manifests: {r['public_key'] or 'none'}"
        + (f"; required: {r['required_public_key']}" if r.get("required_public_key") else ""))
