"""Over Kafka each command reaches its own service's worker: the command line opens every
store read-only, so no process but the service itself writes the service's store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.cli import ROOT, Cases, Result
from tests.e2e.test_cli_walk import walk_third_party_case
from tests.kafka_support import kafka_bootstrap, running_workers

#: Runs `cases` with a Python audit hook that writes down every SQLite database the
#: process opens (the `sqlite3.connect` audit event carries the name or URI it opened).
WATCHED_CLI = """
import json, sys
log = open(sys.argv[1], "a")
def hook(event, args):
    if event == "sqlite3.connect":
        log.write(json.dumps(str(args[0])) + "\\n"); log.flush()
sys.addaudithook(hook)
from services.cli import main
sys.exit(main(sys.argv[2:]))
"""


class WatchedCases(Cases):
    """The `cases` runner of the other e2e tests, each run under the audit hook."""

    def __init__(self, home: Path, log: Path, env: dict[str, str]):
        super().__init__(home, env)
        self.log = log

    def __call__(self, *args: str, as_json: bool = True) -> Result:
        argv = [sys.executable, "-c", WATCHED_CLI, str(self.log), *args, "--home", str(self.home)]
        if as_json:
            argv.append("--json")
        done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=180,
                              env={**os.environ, "PYTHONPATH": str(ROOT), **self.env})
        return Result(done.returncode, done.stdout, done.stderr)


def test_the_command_line_opens_no_store_for_writing(tmp_path: Path) -> None:
    bootstrap = kafka_bootstrap()
    home, log = tmp_path / "home", tmp_path / "opened.jsonl"
    with running_workers(home, bootstrap, tmp_path / "logs"):
        cases = WatchedCases(home, log, {"CASES_BUS": f"kafka://{bootstrap}"})
        case = walk_third_party_case(cases)
        assert cases("show", case).json["status"] in ("report_issued", "closed")

    opened = [json.loads(line) for line in log.read_text().splitlines()]
    stores = [name for name in opened if ".sqlite" in name]
    assert stores, "the walk read no store at all: the hook did not see the command line"
    writable = [name for name in stores if "mode=ro" not in name]
    assert writable == [], f"the command line opened these stores for writing: {writable}"
