"""Run `cases` as a separate process, the way a user or the acceptance suite does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


class Cases:
    def __init__(self, home: Path, env: dict[str, str] | None = None):
        self.home = home
        self.env = env or {}

    def __call__(self, *args: str, as_json: bool = True) -> Result:
        argv = [sys.executable, "-m", "services.cli", *args, "--home", str(self.home)]
        if as_json:
            argv.append("--json")
        done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT), **self.env}, timeout=120)
        return Result(done.returncode, done.stdout, done.stderr)

    def write(self, name: str, data: Any) -> str:
        path = self.home.parent / name
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return str(path)
