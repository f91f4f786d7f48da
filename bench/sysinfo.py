"""What a result was measured on: versions, CPU, disk, and the Kafka broker's own CPU."""

from __future__ import annotations

import functools
import os
import platform
import sqlite3
import subprocess
import sys
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
KAFKA_RUN = Path(os.environ.get("CASES_INFRA_DIR") or REPO / "var" / "infra") / "kafka"
LIBRARIES = ("eventsourcing", "pydantic", "orjson", "kafka-python")
#: Optional speed-ups performance.md asks about; their absence changes the numbers.
ACCELERATORS = ("crc32c", "lz4", "uvloop")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _run(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _lscpu() -> dict[str, str]:
    fields = {}
    for line in _run("lscpu").splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def filesystem_of(path: Path) -> dict[str, str]:
    """The mount holding `path` (fsync cost, hence SQLite commit cost, depends on it)."""
    best: tuple[str, str, str] = ("", "", "")
    for line in Path("/proc/mounts").read_text().splitlines():
        device, mount, fstype, *_ = line.split()
        target = str(path.resolve())
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best[1]):
            best = (device, mount, fstype)
    return {"device": best[0], "mount": best[1], "fstype": best[2]}


@functools.cache
def _static_environment() -> dict[str, Any]:
    cpu = _lscpu()
    git = _run("git", "-C", str(REPO), "rev-parse", "--short", "HEAD").strip()
    status = _run("git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no")
    topology = KAFKA_RUN / "topology"
    return {
        "python": platform.python_version(),
        "python_impl": platform.python_implementation(),
        "platform": platform.platform(),
        "libraries": {name: _version(name) for name in LIBRARIES},
        "sqlite": sqlite3.sqlite_version,
        "accelerators": {name: find_spec(name) is not None for name in ACCELERATORS},
        "cpu_model": cpu.get("Model name", platform.processor()),
        "cpu_count": int(cpu.get("CPU(s)") or os.cpu_count() or 0),
        "hypervisor": cpu.get("Hypervisor vendor"),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kafka_topology": topology.read_text().strip() if topology.exists() else None,
        # "+dirty": tracked files differ from the commit, so the commit alone is not the code.
        "git": f"{git}{'+dirty' if status.strip() else ''}" if git else None,
        "argv": sys.argv[1:],
    }


def environment(tmp_root: Path) -> dict[str, Any]:
    return {**_static_environment(), "tmp_fs": filesystem_of(tmp_root)}


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def broker_pids() -> list[int]:
    """Live broker JVMs from infra/kafka's pid files (a pid is trusted only if it is a
    kafka.Kafka process, as infra/kafka/common.sh does, against recycled pids)."""
    pids = []
    for pidfile in sorted(KAFKA_RUN.glob("node-*/kafka.pid")):
        try:
            pid = int(pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if b"kafka.Kafka" in cmdline:
            pids.append(pid)
    return pids


def process_cpu_s(pids: list[int]) -> float | None:
    """utime + stime of the given processes, in seconds (fields 14 and 15 of /proc/pid/stat)."""
    if not pids:
        return None
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        # The command name (field 2) may hold spaces; the fields after its ')' are fixed.
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS
