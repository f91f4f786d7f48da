"""`cases`: the command line of SPEC section 2, a thin layer over the four services.

Every command: parse and validate (exit 2, field named, nothing recorded), one call to the
owning service, pump the followers, print the result (one JSON object with --json).
Business refusals exit 1 with the reason.
"""

from __future__ import annotations

import gc
import os
import sys

import click
import typer

from services.cli import (  # noqa: F401 - they register the commands
    api_commands,
    audit_commands,
    case_commands,
    deadletter_commands,
    operations,
    partner_commands,
    partner_kit,
    presenters,
)
from services.cli.plumbing import OPTIONS, Done, app
from services.common.errors import BadInput, Refused, ServiceUnavailable
from services.failures import infrastructure_failure


def split_global_options(argv: list[str]) -> list[str]:
    """--home and --json are accepted anywhere on the line, before or after the command."""
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--json":
            OPTIONS.json = True
        elif arg == "--reveal":
            OPTIONS.reveal = True
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
    OPTIONS.home, OPTIONS.json, OPTIONS.unsettled, OPTIONS.reveal = None, False, None, False
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
    except click.exceptions.ClickException as error:  # usage errors: exit 2, like bad input
        presenters.usage_error(error, OPTIONS.json)
        return getattr(error, "exit_code", 2)
    except typer.Exit as done:
        return done.exit_code
    except Exception as error:
        unavailable = infrastructure_failure(error)
        if unavailable is None:
            raise
        if os.environ.get("CASES_DEBUG"):  # for an operator: the cause, on stderr only
            import traceback

            traceback.print_exc()
        presenters.unavailable(unavailable, OPTIONS.json)
        return 3


def run() -> None:
    """The console script and `python -m services.cli`: main(), then an exit that skips
    the interpreter's last garbage collections. Why: at exit CPython collects every object
    still alive (the modules, pydantic's validators of every event type): it grows with what
    a command imported, 9 ms of `cases --help`'s 70 (bench B8) and 45 to 50 ms where the
    rebuild's whole import set is loaded. `gc.freeze()` puts them where no collection
    looks. Everything else an exit does still runs: atexit handlers (logging's,
    kafka-python's producer close, multiprocessing's children), the streams' flush, objects
    freed as their last reference goes. Only objects in reference cycles are left to the OS, whose finalizers CPython
    never promised to run at exit. (Not in main(): the tests call it many times in one
    process, which would then never free what each call left.)"""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
