"""The command line's plumbing: options, the deployment, parsing, and output."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import typer

from services.cli import presenters
from services.common.context import Context, SystemClock
from services.common.errors import BadInput
from services.runtime.stores import cases_home

if TYPE_CHECKING:
    from services.bootstrap import Deployment
    from services.runtime.kafka.config import KafkaSettings


@dataclass
class Options:
    home: str | None = None
    json: bool = False
    unsettled: str | None = None  # set when a recorded change's followers did not catch up
    reveal: bool = False  # --reveal: show sealed identifiers and free text, recording the read


OPTIONS = Options()
CLOCK = SystemClock()  # one clock for commands and reactions: readings never repeat
# Plain help (no rich rendering: it triples a command's start) and no pretty tracebacks
# (they could print data; main() turns every failure into a clean exit instead).
PLAIN: dict[str, Any] = {"no_args_is_help": True, "rich_markup_mode": None}
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, **PLAIN,
                  help="Second medical opinion cases: intake, records, review, reporting.\n\nEvery command also takes --home DIR (default $CASES_HOME, else ./var) and --json, anywhere on the line. Exit codes: 0 done, 1 refused by a business rule, 2 bad input, 3 unavailable.")
policies = typer.Typer(**PLAIN, help="The policy register.")
consent = typer.Typer(**PLAIN, help="Member consent per scope.")
records = typer.Typer(**PLAIN, help="Medical records collection.")
opinion = typer.Typer(**PLAIN, help="Reviewer opinions.")
report = typer.Typer(**PLAIN, help="The second-opinion report.")
sla = typer.Typer(**PLAIN, help="Review service levels.")
review = typer.Typer(**PLAIN, help="Reviewer assignment and appointments.")
reviewers = typer.Typer(**PLAIN, help="The reviewer directory.")
for sub, name in ((policies, "policies"), (consent, "consent"), (records, "records"),
                  (opinion, "opinion"), (report, "report"), (sla, "sla"), (review, "review"),
                  (reviewers, "reviewers")):
    app.add_typer(sub, name=name)


# -- plumbing ---------------------------------------------------------------------------------


class Done(Exception):
    def __init__(self, code: int):
        self.code = code


def emit(result: dict[str, Any], human: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Print the result. A change that was recorded while the services had not caught up
    says so (`"settled": false` and what is pending): it happened; do not run it again."""
    result = resolve_sealed(result)
    if OPTIONS.unsettled is not None:
        result = {**result, "settled": False, "pending": OPTIONS.unsettled}
    if OPTIONS.json or human is None:
        presenters.print_json(result)
    else:
        human(result)
        if OPTIONS.unsettled is not None:
            presenters.say(f"Recorded, but the services have not all caught up yet ({OPTIONS.unsettled});"
                           " the result above may not show their reactions. Do not run it again.")


def bus_setting() -> KafkaSettings | None:
    """The one setting that names the runtime: CASES_BUS=kafka://... or, unset, embedded."""
    from services.runtime.kafka.config import bus_from_env

    try:
        return bus_from_env()
    except ValueError as error:
        raise BadInput("CASES_BUS", str(error)) from None


def resolve_sealed(result: dict[str, Any], *, allow_reveal: bool = True) -> dict[str, Any]:
    """Values sealed under a member's key, as this reader may see them: "[sealed]", or
    "[erased]" once the member's key is gone; with --reveal the plaintext, and only after
    the read was recorded on the case (who, which fields), so no reveal goes unrecorded."""
    from services.runtime.keystore import resolve, sealed_paths

    found = sealed_paths(result)
    if not found:
        return result
    from services.bootstrap import open_vault

    home = cases_home(OPTIONS.home, create=False)
    vault = open_vault(home, readonly=True)
    try:
        reveal = OPTIONS.reveal and allow_reveal
        if reveal and vault is not None and result.get("case_id"):
            readable = sorted({path for path, value in found if vault.unseal(value) != "[erased]"})
            if readable:
                record_reveal(UUID(str(result["case_id"])), readable)
        resolved = resolve(result, vault, reveal=reveal)
    finally:
        if vault is not None:
            vault.close()
    return resolved  # type: ignore[return-value]


def record_reveal(case_id: UUID, fields: list[str]) -> None:
    """The read of plaintext, recorded by intake before anything is shown."""
    import re

    shown = tuple(sorted({re.sub(r"\[\d+\]", "", f) for f in fields}))[:50]
    with runtime() as rt:
        rt.command(lambda: rt.intake.record_reveal(case_id, shown, "read with --reveal", context(reader())))


def reader() -> str:
    """Who is reading: CASES_USER, else the operating system's login name."""
    import getpass
    import os

    return os.environ.get("CASES_USER") or getpass.getuser()


@contextmanager
def runtime(*, reads: bool = False, tick: bool = True) -> Iterator[Deployment]:
    """The deployment under --home: embedded by default, or over Kafka with CASES_BUS.

    A command that writes is, embedded, also the clock's tick and finishes what a process
    that died left half-way (over Kafka, the workers do both). A read (`reads=True`) opens
    every store read-only and writes nothing, not even a missing home. `tick=False` is for
    a command that writes only derived data (`cases rebuild`): it finishes what was left
    half-way but records no case event of its own."""
    from services.bootstrap import deployment
    from services.runtime.stores import NoStores

    bus = bus_setting()
    home = cases_home(OPTIONS.home, create=not reads)
    missing = BadInput("--home", f"no case stores in {home}; the demo keeps its stores in"
                                 f" {home / 'demo'} (pass --home {home / 'demo'})")
    try:
        rt = deployment(home, CLOCK, readonly=reads, bus=bus)
    except (NoStores, FileNotFoundError):
        raise missing from None
    try:
        if not reads and bus is None:
            rt.pump()
            if tick:
                rt.tick()
        try:
            yield rt
        except NoStores:  # a read opens each store when it first reads it
            raise missing from None
        if not rt.settled:
            OPTIONS.unsettled = getattr(rt, "unsettled_reason", "the services have not caught up")
    finally:
        rt.close()


def context(actor: str = "case_handler") -> Context:
    return Context(actor=f"user:{actor}", now=CLOCK.now())


def parse_case_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise BadInput("case_id", f"'{text}' is not a case id") from None


#: SPEC section 4: a case request over 1 MiB is bad input (read no further than that).
REQUEST_MAX_BYTES = 1024 * 1024


def read_file(path: str, field: str = "FILE", max_bytes: int | None = None) -> str:
    try:
        if max_bytes is not None:
            with Path(path).open("rb") as handle:
                data = handle.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise BadInput(field, f"{path} is over {max_bytes // (1024 * 1024)} MiB")
            return data.decode()
        return Path(path).read_text()
    except FileNotFoundError:
        raise BadInput(field, f"no such file: {path}") from None
    except IsADirectoryError:
        raise BadInput(field, f"{path} is a directory, not a file") from None
    except PermissionError:
        raise BadInput(field, f"no permission to read {path}") from None
    except UnicodeDecodeError:
        raise BadInput(field, f"{path} is not UTF-8 text") from None


def choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise BadInput(field, f"'{value}' is not one of {', '.join(allowed)}")
    return value


def parse_date(text: str, field: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise BadInput(field, f"'{text}' is not an ISO date (YYYY-MM-DD)") from None


def parse_moment(text: str) -> datetime:
    from services.common import validation  # pydantic: only for the commands that read a moment

    return validation.parse_moment(text, "--as-of")


def require_text(value: str, field: str) -> None:
    if not value.strip():
        raise BadInput(field, "must not be empty")
