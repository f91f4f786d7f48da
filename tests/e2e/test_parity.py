"""The demo batch ends the same embedded and over Kafka (apart from generated ids)."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

from services.bootstrap import BusRuntime, EmbeddedRuntime, open_vault
from services.common.context import SettableClock
from services.runtime.kafka.config import parse_bus
from services.runtime.keystore import resolve
from services.simulation.demo import run_demo
from tests.kafka_support import kafka_bootstrap, running_workers

CASES, SEED = 60, 424242


def test_demo_batch_ends_the_same_embedded_and_over_kafka(tmp_path: Path) -> None:
    bootstrap = kafka_bootstrap()
    embedded_home, kafka_home = tmp_path / "embedded", tmp_path / "kafka"
    embedded = run_demo(embedded_home, cases=CASES, seed=SEED, fresh=True, quiet=True)

    settings = parse_bus(f"kafka://{bootstrap}")
    with running_workers(kafka_home, bootstrap, tmp_path / "logs"):
        over_kafka = run_demo(
            kafka_home, cases=CASES, seed=SEED, fresh=False, quiet=True,
            deployment=lambda home, clock: BusRuntime(home, settings, clock))

    assert summary_without_ids(embedded) == summary_without_ids(over_kafka)
    assert embedded["cases"] == CASES
    left, right = views(embedded_home), views(kafka_home)
    assert [c["state"] for c in left] == [c["state"] for c in right]
    assert [c["trail"] for c in left] == [c["trail"] for c in right]
    assert [c["consents"] for c in left] == [c["consents"] for c in right]


def summary_without_ids(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in ("replay", "home")}


def views(home: Path) -> list[dict[str, Any]]:
    """Every case's state, audit trail and consent history, generated ids blanked."""
    runtime = EmbeddedRuntime(home, SettableClock(_epoch()))  # reads the stores; pumps nothing
    vault = open_vault(home, readonly=True)  # sealed values differ by nonce: compare plaintext
    try:
        found = []
        for state in sorted(runtime.reporting.views.all_states(), key=lambda s: s["opened_at"]):
            from uuid import UUID

            case_id = UUID(state["case_id"])
            trail = [(e.type_name, e.service, e.occurred_at.isoformat(), e.actor)
                     for e in runtime.reporting.views.audit_trail(case_id)]
            consents = [{k: v for k, v in row.items() if k not in ("event_id", "case_id", "member_ref")}
                        for row in runtime.reporting.views.consent_history(case_id)]
            state = resolve(state, vault, reveal=True)  # type: ignore[assignment]
            found.append({"state": blank_ids(state), "trail": trail, "consents": consents})
        return found
    finally:
        runtime.close()
        if vault is not None:
            vault.close()


def blank_ids(state: dict[str, Any]) -> dict[str, Any]:
    state = dict(state)
    state["member_ref"] = "-"  # keyed by each deployment's own secret
    state["consent_events"] = sorted(state["consent_events"])
    if state.get("report"):
        state["report"] = {**state["report"], "report_id": "-"}
    return state


def _epoch():  # type: ignore[no-untyped-def]
    from datetime import datetime

    return datetime(2000, 1, 1, tzinfo=UTC)
