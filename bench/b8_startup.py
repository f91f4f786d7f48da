"""B8: `cases` commands as fresh processes (A) against a bare interpreter start (B); the
benchmark itself is bench/startup.py."""

from __future__ import annotations

from typing import Any

from bench import startup
from bench.suite import Context


def run(ctx: Context) -> list[dict[str, Any]]:
    sink = ctx.sink("startup")
    try:
        return startup.run(ctx.tmp_dir, pairs=ctx.pairs, warmup=ctx.warmup,
                           launches=2 if ctx.quick else 10, sink=sink)
    finally:
        sink.close()
