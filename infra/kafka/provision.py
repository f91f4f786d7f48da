"""Provision a secured broker (run by up.sh SECURE=1, with the repo on PYTHONPATH):

    CASES_KAFKA_SECRETS=<secrets dir> python infra/kafka/provision.py 127.0.0.1:9092

Writes the missing `<principal>.json` credentials, sets each principal's SCRAM password,
creates the case topics and the least-privilege ACLs (services/runtime/kafka/access.py).
The composition root says who reads whom; the runtime module is told, as data.
Prints one JSON line: what was done. Idempotent.
"""

from __future__ import annotations

import json
import sys

from services.bootstrap import SERVICES, leaders_of
from services.runtime.kafka.access import ANALYTICS, provision_services
from services.runtime.kafka.config import parse_bus


def main(bootstrap: str) -> None:
    leaders = {service: leaders_of(service) for service in SERVICES}
    # Reporting's analytics agent (services/reporting/analytics/agent.py) reads every case topic.
    leaders[ANALYTICS] = list(SERVICES)
    done = provision_services(parse_bus(f"kafka://{bootstrap}"), leaders)
    sys.stdout.write(json.dumps(done) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: provision.py HOST:PORT[,HOST:PORT...]")
    main(sys.argv[1])
