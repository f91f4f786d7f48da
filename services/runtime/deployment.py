"""The four services of one deployment, built on their own stores, and who follows whom.

Both runtimes use this: the embedded one wires followers to leaders' notification logs in
one process; the Kafka one runs each service as a worker consuming its leaders' topics.
"""

from __future__ import annotations

import hashlib
import os
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
    """Per-deployment secrets: member references, case pseudonyms in review packs, and
    analytics references, each derived from one root secret kept beside the stores (a real
    deployment would hold it in a KMS)."""
    root = deployment_root(home)
    return {purpose: hashlib.sha256(root + purpose.encode()).digest() for purpose in PURPOSES}


PURPOSES = ("member", "pack", "analytics")
KEY_FILE = "deployment.key"


def deployment_root(home: Path) -> bytes:
    """The root secret, made on first use (32 random bytes, mode 0600). It is written aside
    and linked into place, so a process starting at the same moment never reads half a
    key, and of two creators the first one wins."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / KEY_FILE
    if not path.exists():
        draft = home / f".{KEY_FILE}.{os.getpid()}"
        draft.write_bytes(secrets.token_bytes(32))
        draft.chmod(0o600)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_bytes()
