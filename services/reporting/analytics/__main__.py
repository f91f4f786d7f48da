"""`python -m services.reporting.analytics --home DIR --bus kafka://host:port`: the analytics
agent as its own process, until `cases worker analytics` exposes it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.reporting.analytics.agent import run_analytics_worker
from services.runtime.kafka.config import bus_from_env, parse_bus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.reporting.analytics",
                                     description="Run the analytics agent until SIGTERM.")
    parser.add_argument("--home", type=Path, required=True,
                        help="the deployment's home (holds deployment.key)")
    parser.add_argument("--bus", help="kafka://host:port (default: CASES_BUS)")
    parser.add_argument("--loglevel", default="warn", help="debug, info, warn or error")
    args = parser.parse_args(argv)
    try:
        settings = parse_bus(args.bus) if args.bus else bus_from_env()
    except ValueError as error:
        parser.error(f"--bus: {error}")
    if settings is None:
        parser.error("--bus: pass --bus kafka://host:port or set CASES_BUS")
    from services.bootstrap import load_keys  # this entry point is a composition root too

    run_analytics_worker(settings, load_keys(args.home).analytics, args.loglevel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
