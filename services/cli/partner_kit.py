"""`cases partner simulate`: the example partner of examples/partner/ as its own OS process.

The example is what a partner's developer starts from, so it is run exactly as a partner
would run it: a separate process that knows only its name, the broker, its own credentials
and the published schemas. The command does not talk to the partner's topics itself.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import typer

from services.cli.operations import required_bus
from services.cli.partner_commands import check_name, check_password, partner
from services.cli.plumbing import OPTIONS, Done, emit
from services.common.errors import BadInput, ServiceUnavailable
from services.runtime.stores import cases_home

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "examples" / "partner" / "partner_client.py"


@partner.command("simulate")
def simulate(
    name: str = typer.Argument(..., help="The partner, as registered by `cases partner add`"),
    password_file: str = typer.Option(..., "--password-file", help="The partner's SCRAM password"),
    bus: str = typer.Option(None, "--bus", help="kafka://host:port (default $CASES_BUS)"),
    once: bool = typer.Option(False, "--once", help="Stop once nothing arrived for --idle seconds"),
    idle: float = typer.Option(10.0, "--idle", help="Seconds without news before --once stops"),
    think_seconds: float = typer.Option(0.0, "--think-seconds",
                                        help="How long each pack waits before it is answered"),
) -> None:
    """Run the example partner client as its own process, with the partner's credentials: it
    answers each review request on its topic with an opinion and acknowledges recalls."""
    check_name(name)
    check_password(password_file)
    password = Path(password_file)
    if idle <= 0:
        raise BadInput("--idle", "must be above zero")
    if think_seconds < 0:
        raise BadInput("--think-seconds", "must not be negative")
    settings = required_bus(bus)
    work_dir = cases_home(OPTIONS.home) / "partners" / name / "kit"
    process = start_client(name, settings.bootstrap, password if settings.secured else None, work_dir,
                           once=once, idle=idle, think_seconds=think_seconds, stdout=subprocess.PIPE)
    out = wait_forwarding_signals(process)
    if process.returncode != 0:
        raise Done(process.returncode)  # the client said why on stderr
    emit(json.loads(out))


def start_client(name: str, bootstrap: str, password_file: Path | None, work_dir: Path, *, once: bool,
                 idle: float = 10.0, think_seconds: float = 0.0, stdout: int | IO[Any] | None = None,
                 stderr: int | IO[Any] | None = None) -> subprocess.Popen[bytes]:
    """The example client as a child process: SCRAM as partner-NAME when a password file is
    given (a secured broker), plaintext otherwise. Exit 3 here if no broker answers, in
    seconds rather than the client's own 15-second probe."""
    from services.runtime.kafka.bus import reachable

    if not CLIENT.exists():
        raise ServiceUnavailable(f"the example partner is not here ({CLIENT}): run from a source checkout")
    if not any(reachable(server) for server in bootstrap.split(",")):
        raise ServiceUnavailable(f"no Kafka broker answers at {bootstrap}")
    work_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, str(CLIENT), "--partner", name, "--bootstrap", bootstrap,
            "--work-dir", str(work_dir), "--idle", str(idle), "--think-seconds", str(think_seconds)]
    if password_file is not None:
        argv += ["--password-file", str(password_file)]
    if once:
        argv.append("--once")
    return subprocess.Popen(argv, stdout=stdout, stderr=stderr, cwd=ROOT)


def wait_forwarding_signals(process: subprocess.Popen[bytes]) -> str:
    """Wait for the client; SIGTERM or SIGINT to this command stops the client cleanly (it
    commits what it answered and prints its summary) rather than killing it mid-message."""
    def forward(signum: int, _: object) -> None:
        if process.poll() is None:
            process.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        out, _ = process.communicate()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return out.decode() if out else "{}"
