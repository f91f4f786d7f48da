"""The four services of one deployment, built on their own stores, and who follows whom.

Both runtimes use this: the embedded one wires followers to leaders' notification logs in
one process; the Kafka one runs each service as a worker consuming its leaders' topics.
"""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from services.common.context import Clock
from services.intake.application import Intake
from services.records.application import Records
from services.reporting.application import Reporting
from services.review.application import ReviewService
from services.runtime.application import ServiceApplication
from services.runtime.stores import store_env

SERVICES = ("intake", "records", "review", "reporting")

#: (leader, follower). Intake follows reporting only to learn that a report went out.
PIPES: tuple[tuple[str, str], ...] = (
    ("intake", "records"),
    ("intake", "review"),
    ("records", "review"),
    ("intake", "reporting"),
    ("records", "reporting"),
    ("review", "reporting"),
    ("reporting", "intake"),
)


def leaders_of(service: str) -> list[str]:
    return [leader for leader, follower in PIPES if follower == service]


def build_service(name: str, home: Path, clock: Clock) -> ServiceApplication:
    keys = deployment_keys(home)
    env = store_env(home, name)
    if name == "intake":
        intake = Intake(env=env, clock=clock)
        intake.member_key = keys["member"]
        return intake
    if name == "records":
        records = Records(env=env, clock=clock)
        records.pack_key = keys["pack"]
        return records
    if name == "review":
        return ReviewService(env=env, clock=clock)
    if name == "reporting":
        return Reporting(env=env, clock=clock)
    raise ValueError(f"unknown service {name!r}; expected one of {', '.join(SERVICES)}")


def deployment_keys(home: Path) -> dict[str, bytes]:
    """Per-deployment secrets for member references and case pseudonyms, made on first
    use and kept beside the stores (a real deployment would hold them in a KMS)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "deployment.key"
    if not path.exists():
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    root = path.read_bytes()
    return {
        purpose: hashlib.sha256(root + purpose.encode()).digest() for purpose in ("member", "pack")
    }
