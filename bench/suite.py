"""What every benchmark module gets: the run's settings, its result files, and a shared
source home (cases through the embedded runtime), built once per run and only if asked."""

from __future__ import annotations

import fcntl
import resource
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.protocol import ResultFile

#: The lock tests/kafka_support.py `exclusive_bus` takes: whoever holds it owns the
#: `cases.*` topics and `cases-*` groups on the shared broker (the workers use those names).
BUS_LOCK = Path("/tmp/cases-kafka-tests.lock")
PG_DSN = "postgresql://cases:cases@127.0.0.1:55432/cases"


@contextmanager
def exclusive_bus() -> Iterator[None]:
    with BUS_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def peak_rss_mb() -> float:
    """This process's peak resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Context:
    quick: bool
    stamp: str
    env: dict[str, Any]
    results_dir: Path
    tmp_dir: Path
    pairs: int
    warmup: int
    bootstrap: str
    pg_dsn: str
    size: int | None = None  # cases, from BENCH_SIZE or --size; None: each benchmark's default
    summaries: list[dict[str, Any]] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    _sources: dict[int, Path] = field(default_factory=dict)
    _bus_depth: int = 0

    @contextmanager
    def hold_bus(self) -> Iterator[None]:
        """The bus lock (B1 and B2 run the workers on the cases.* topics), taken once
        however deeply nested within this process."""
        if self._bus_depth:
            self._bus_depth += 1
            try:
                yield
            finally:
                self._bus_depth -= 1
            return
        with exclusive_bus():
            self._bus_depth = 1
            try:
                yield
            finally:
                self._bus_depth = 0

    def cases(self, full: int, quick: int) -> int:
        """A benchmark's size in cases: toy with --quick, BENCH_SIZE if set, else `full`."""
        if self.quick:
            return quick
        return self.size or full

    def sink(self, name: str) -> ResultFile:
        sink = ResultFile(self.results_dir, self.stamp, f"{name}{'-quick' if self.quick else ''}",
                          self.env)
        self.paths.append(sink.path)
        return sink

    def source_home(self, cases: int) -> Path:
        """A home holding `cases` delivered cases (embedded runtime, untimed), shared by
        the benchmarks of this run; copy it before writing to it."""
        if cases not in self._sources:
            from bench.kafka_source import run_cases

            home = Path(tempfile.mkdtemp(prefix=f"bench-source-{cases}-", dir=self.tmp_dir))
            run_cases(home, cases)
            self._sources[cases] = home
        return self._sources[cases]

    def close(self) -> None:
        for home in self._sources.values():
            shutil.rmtree(home, ignore_errors=True)

    def take_over(self, state: dict[str, Any]) -> None:
        """What the benchmarks before this one, each in its own process, handed on: their
        summaries, result files and source homes (the run that started them removes the
        homes at its end, so this process does not: see `hand_off`)."""
        self.summaries.extend(state["summaries"])
        self.paths.extend(Path(p) for p in state["paths"])
        self._sources.update({int(cases): Path(home) for cases, home in state["sources"].items()})

    def hand_off(self) -> dict[str, Any]:
        """The state `take_over` reads, with this process's benchmark added."""
        return {"summaries": self.summaries, "paths": [str(p) for p in self.paths],
                "sources": {str(cases): str(home) for cases, home in self._sources.items()}}


def copy_home(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target
