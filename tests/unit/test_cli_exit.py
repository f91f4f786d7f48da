"""The `cases` console script leaves without the interpreter's last garbage collections
(services/cli/__init__.py `run`), and nothing a user sees of an exit changes: the exit
code, every byte of the output, the atexit handlers."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from tests.e2e.cli import ROOT

#: `cases ARGS` through `run`, as the console script calls it (or through the old
#: `sys.exit(main())`), with an atexit handler registered before the project is imported
#: (so it runs after every handler the project registers) that reports whether the
#: objects alive at exit had been set aside from the collector.
THROUGH_RUN = """
import atexit, gc, sys
atexit.register(lambda: print(f"atexit ran, frozen={gc.get_freeze_count() > 0}", file=sys.stderr))
from services.cli import main, run
through, sys.argv = sys.argv[1], ["cases", *sys.argv[2:]]
run() if through == "run" else sys.exit(main())
"""


def cases(*args: str, through: str = "run") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", THROUGH_RUN, through, *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def test_the_console_script_is_run_not_main() -> None:
    (script,) = entry_points(group="console_scripts", name="cases")
    assert script.value == "services.cli:run"


def test_an_answered_command_exits_0_with_all_its_output_and_its_atexit_handlers() -> None:
    done, before = cases("--help"), cases("--help", through="main")
    assert done.returncode == 0
    assert "rebuild" in done.stdout and done.stdout == before.stdout
    assert "atexit ran, frozen=True" in done.stderr
    assert "atexit ran, frozen=False" in before.stderr


def test_bad_input_keeps_its_exit_code_and_message(tmp_path: Path) -> None:
    args = ("show", "not-a-case-id", "--home", str(tmp_path), "--json")
    done, before = cases(*args), cases(*args, through="main")
    assert done.returncode == 2, done.stderr
    assert "case_id" in done.stdout + done.stderr and done.stdout == before.stdout
    assert "atexit ran, frozen=True" in done.stderr
