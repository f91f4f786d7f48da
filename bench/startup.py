"""Benchmark B8, `startup`: a `cases` command as a fresh process (A) against a bare
interpreter start of the same Python (B).

The KPI is inverted relative to the throughput benchmarks: ratio = A seconds / B seconds
per launch, "how many bare interpreter starts one command costs", so lower is better.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.protocol import ResultFile, quartiles, settle, unsettle
from bench.sysinfo import REPO

EXAMPLES = REPO / "examples"

A_METHOD = ("the `cases` console script next to sys.executable run as a fresh subprocess "
            "(stdout and stderr to /dev/null, CASES_BUS unset, cwd a temp dir, bytecode "
            "cached under a per-run PYTHONPYCACHEPREFIX), waited for; exit code 0 checked "
            "after the clock stops")
B_METHOD = "`sys.executable -c pass` (the venv's python) launched and waited for the same way"
RATIO_NOTE = ("ratio = A wall s / B wall s per launch: how many bare interpreter starts one "
              "command costs; lower is better (inverted relative to the throughput benchmarks)")


@dataclass(frozen=True)
class Command:
    """One `cases` command line under test, with its goal (max A/B ratio) if any."""

    name: str
    label: str
    args: tuple[str, ...]
    goal: float | None


def commands(home: Path, case_id: str) -> list[Command]:
    return [
        Command("help", "cases --help", ("--help",), 5.0),
        Command("sla-due", "cases sla due", ("sla", "due", "--start", "2025-06-02",
                                             "--working-days", "10", "--nation", "ENG",
                                             "--json"), 8.0),
        Command("show", "cases show", ("show", case_id, "--json", "--home", str(home)), None),
    ]


def cases_argv() -> tuple[list[str], str]:
    """The console script the user runs, else the equivalent `python -m services.cli`."""
    script = Path(sys.executable).parent / "cases"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)], "console script"
    return [sys.executable, "-m", "services.cli"], "python -m services.cli (no console script)"


#: Dropped from the children's environment. CASES_BUS: every command runs embedded.
#: PYTHONDONTWRITEBYTECODE: without it the project's modules compile on every launch, which
#: a user (whose runs leave .pyc files behind) does not pay.
DROPPED = ("CASES_BUS", "PYTHONDONTWRITEBYTECODE")


def child_env(pycache: Path) -> dict[str, str]:
    """The caller's environment minus DROPPED, with bytecode cached under `pycache` (a
    per-run directory: warm after the untimed checks, and nothing written into the repo)."""
    env = {key: value for key, value in os.environ.items() if key not in DROPPED}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def children_cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime, usage.ru_stime


@dataclass
class Launches:
    """One side's sample: `len(walls_s)` launches of the same command line, back to back."""

    label: str
    walls_s: list[float]
    user_s: float
    sys_s: float

    @property
    def wall_s(self) -> float:
        return sum(self.walls_s)

    @property
    def wall_ms(self) -> float:
        return self.wall_s * 1e3 / len(self.walls_s)

    @property
    def cpu_ms(self) -> float:
        return (self.user_s + self.sys_s) * 1e3 / len(self.walls_s)

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "launches": len(self.walls_s),
            "wall_s": self.wall_s,
            "wall_ms_per_launch": self.wall_ms,
            "child_cpu_ms_per_launch": self.cpu_ms,
            "child_user_s": self.user_s,
            "child_sys_s": self.sys_s,
            "launch_wall_ms": [w * 1e3 for w in self.walls_s],
        }


def launch(label: str, argv: Sequence[str], count: int, cwd: Path,
           env: dict[str, str]) -> Launches:
    """Run `argv` `count` times; the clock covers spawn to exit of each child, nothing else."""
    walls: list[float] = []
    codes: list[int] = []
    settle()
    user_before, sys_before = children_cpu()
    for _ in range(count):
        start = time.perf_counter()
        code = subprocess.call(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
        codes.append(code)
    user_after, sys_after = children_cpu()
    unsettle()
    if any(codes):
        raise RuntimeError(f"{label}: {' '.join(argv)} exited {codes}")
    return Launches(label, walls, user_after - user_before, sys_after - sys_before)


def run_checked(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


@contextmanager
def prepared(tmp_dir: Path) -> Iterator[tuple[list[str], str, list[Command], Path,
                                              dict[str, str]]]:
    """Untimed: a CASES home with the example policies and one opened case, and a check
    that each command under test works and says what it should (this also fills the
    bytecode cache)."""
    base, how = cases_argv()
    with tempfile.TemporaryDirectory(prefix="bench-startup-", dir=tmp_dir) as scratch:
        work = Path(scratch)
        env = child_env(work / "pycache")
        home = work / "home"
        run_checked([*base, "--home", str(home), "policies", "load",
                     str(EXAMPLES / "policies.json")], work, env)
        opened = json.loads(run_checked([*base, "--home", str(home), "open",
                                         str(EXAMPLES / "case.json"), "--json"], work, env))
        case_id = opened["case_id"]
        cmds = commands(home, case_id)
        for cmd in cmds:
            out = run_checked([*base, *cmd.args], work, env)
            if cmd.name == "help" and "Usage" not in out:
                raise RuntimeError(f"`cases --help` printed no usage: {out[:200]!r}")
            if cmd.name == "sla-due" and "due" not in json.loads(out):
                raise RuntimeError(f"`cases sla due` printed no due date: {out[:200]!r}")
            if cmd.name == "show" and json.loads(out).get("case_id") != case_id:
                raise RuntimeError(f"`cases show` did not show {case_id}: {out[:200]!r}")
        subprocess.run([sys.executable, "-c", "pass"], cwd=work, env=env, check=True)
        yield base, how, cmds, work, env


def run(tmp_dir: Path, *, pairs: int, warmup: int, launches: int,
        sink: ResultFile) -> list[dict[str, Any]]:
    """Per command: `warmup` discarded pairs, then `pairs` pairs of A then B."""
    summaries = []
    print("preparing the startup benchmark: a CASES home with one case (untimed)...",
          file=sys.stderr)
    with prepared(tmp_dir) as (base, how, cmds, work, env):
        bare = [sys.executable, "-c", "pass"]
        for cmd in cmds:
            summaries.append(run_command(cmd, [*base, *cmd.args], bare, work, env, how,
                                         pairs=pairs, warmup=warmup, launches=launches,
                                         sink=sink))
    return summaries


def run_command(cmd: Command, argv: list[str], bare: list[str], cwd: Path,
                env: dict[str, str], how: str, *, pairs: int, warmup: int, launches: int,
                sink: ResultFile) -> dict[str, Any]:
    started = time.perf_counter()
    kept: list[tuple[Launches, Launches, float]] = []
    for index in range(warmup + pairs):
        is_warmup = index < warmup
        a = launch(f"cases {cmd.name}", argv, launches, cwd, env)
        b = launch("python -c pass", bare, launches, cwd, env)
        ratio = a.wall_s / b.wall_s
        sink.write({
            "type": "pair", "bench": "startup", "command": cmd.name,
            "pair": index - warmup, "warmup": is_warmup,
            "a": a.as_json(), "b": b.as_json(),
            "ratio": ratio, "cpu_ratio": a.cpu_ms / b.cpu_ms if b.cpu_ms else None,
        })
        print(f"  startup {cmd.name} "
              f"{'warm-up' if is_warmup else f'pair {index - warmup + 1}/{pairs}'}: "
              f"A {a.wall_ms:.1f} ms, B {b.wall_ms:.1f} ms, A/B {ratio:.2f}x", file=sys.stderr)
        if not is_warmup:
            kept.append((a, b, ratio))
    ratio = quartiles([r for _, _, r in kept])
    summary = {
        "type": "summary", "bench": "startup", "command": cmd.name, "label": cmd.label,
        "argv": ["cases", *cmd.args], "a_runs": how,
        "pairs": len(kept), "warmup_pairs": warmup, "launches_per_sample": launches,
        "ratio": ratio, "ratio_note": RATIO_NOTE,
        "cpu_ratio": quartiles([a.cpu_ms / b.cpu_ms for a, b, _ in kept if b.cpu_ms]),
        "goal": cmd.goal,
        "goal_met": None if cmd.goal is None else ratio["median"] <= cmd.goal,
        "a": side_stats([a for a, _, _ in kept]),
        "b": side_stats([b for _, b, _ in kept]),
        "a_method": A_METHOD, "b_method": B_METHOD,
        "bench_wall_s": time.perf_counter() - started,
    }
    sink.write(summary)
    return summary


def side_stats(samples: list[Launches]) -> dict[str, Any]:
    return {
        "label": samples[0].label,
        "wall_ms_per_launch": quartiles([s.wall_ms for s in samples]),
        "child_cpu_ms_per_launch": quartiles([s.cpu_ms for s in samples]),
        "fastest_launch_ms": min(w * 1e3 for s in samples for w in s.walls_s),
    }
