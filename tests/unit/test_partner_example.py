"""The example partner of examples/partner/ (what a partner's developer starts from): it needs
only the published contract, answers every valid pack, honours recalls, and survives anything
written to its topic. Its Kafka loop is proven in tests/e2e/test_partner_kit.py."""

from __future__ import annotations

import ast
import importlib.util
import json
import logging
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest

from events.asyncapi import EXAMPLES
from events.schema_export import PARTNER_DIR

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "examples" / "partner" / "partner_client.py"


def load_client() -> ModuleType:
    spec = importlib.util.spec_from_file_location("partner_client", CLIENT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["partner_client"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


client = load_client()


def request(**changes: Any) -> dict[str, Any]:
    return {**json.loads(EXAMPLES["review_requested"]().model_dump_json()), **changes}


def recall(pack_id: str, message_id: str = "11111111-2222-4333-8444-555555555555") -> dict[str, Any]:
    return {**json.loads(EXAMPLES["review_recalled"]().model_dump_json()), "pack_id": pack_id,
            "message_id": message_id}


def raw(message: Any) -> bytes:
    return json.dumps(message).encode()


@pytest.fixture
def desk(tmp_path: Path) -> Any:
    return client.Partner("acme-experts", client.Schemas(PARTNER_DIR), tmp_path / "work", "Dr Example Reviewer", 0)


def published(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads((PARTNER_DIR / f"{name}.v1.json").read_text()),
                                           format_checker=jsonschema.FormatChecker())


def test_the_client_imports_nothing_of_the_insurers_code() -> None:
    tree = ast.parse(CLIENT.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"services", "events", "tests", "bench"}
    assert {"kafka", "jsonschema"} <= imported


def test_a_pack_is_answered_with_a_valid_opinion_by_the_named_reviewer(desk: Any) -> None:
    pack = request()
    assert desk.read(raw(pack), "p0 o0") == []  # kept, answered once its think time is over
    (opinion,) = desk.due()
    assert list(published("opinion_given").iter_errors(opinion)) == []
    assert opinion["pack_id"] == pack["pack_id"] and opinion["reviewer"] == "Dr Example Reviewer"
    assert opinion["outcome"] == "confirmed"  # acute, with imaging
    assert desk.due() == []


@pytest.mark.parametrize(("nature", "kinds", "outcome"), [
    ("acute", [], "inconclusive"),
    ("acute", ["imaging"], "confirmed"),
    ("chronic", ["treatment_plan", "gp_summary"], "alternative_treatment"),
    ("chronic", ["blood_test"], "diagnosis_changed"),
])
def test_the_outcome_follows_from_the_pack(nature: str, kinds: list[str], outcome: str) -> None:
    pack = request(records=[{"kind": k, "days_after_diagnosis": 1} for k in kinds],
                   condition={"name": "Osteoarthritis", "icd10": "M17.1", "nature": nature})
    assert client.assess(pack)[0] == outcome
    assert client.assess(pack) == client.assess(pack)


def test_free_text_of_the_pack_is_never_repeated_in_the_opinion(desk: Any) -> None:
    pack = request(diagnosis_summary="a remark that stays with the partner")
    desk.read(raw(pack), "p0 o0")
    (opinion,) = desk.due()
    assert "remark" not in opinion["summary"]


def test_a_recall_destroys_the_copy_cancels_the_answer_and_is_acknowledged(tmp_path: Path) -> None:
    desk = client.Partner("acme-experts", client.Schemas(PARTNER_DIR), tmp_path / "w", "Dr E", 3600)
    pack = request()
    desk.read(raw(pack), "p0 o0")
    assert (tmp_path / "w" / "packs" / f"{pack['pack_id']}.json").exists()
    (ack,) = desk.read(raw(recall(pack["pack_id"])), "p0 o1")
    assert list(published("recall_acknowledged").iter_errors(ack)) == []
    assert ack["pack_id"] == pack["pack_id"]
    assert not (tmp_path / "w" / "packs" / f"{pack['pack_id']}.json").exists()
    assert desk.due(now=float("inf")) == []  # never answered
    assert desk.tally.recalled == 1


def test_a_recall_after_the_answer_still_destroys_the_copy(desk: Any, tmp_path: Path) -> None:
    pack = request()
    desk.read(raw(pack), "p0 o0")
    desk.due()
    (ack,) = desk.read(raw(recall(pack["pack_id"])), "p0 o1")
    assert ack["type"] == "recall_acknowledged"
    assert list((tmp_path / "work" / "packs").iterdir()) == []


def test_a_redelivered_message_is_dropped_even_after_a_restart(desk: Any, tmp_path: Path) -> None:
    pack = request()
    desk.read(raw(pack), "p0 o0")
    assert len(desk.due()) == 1
    assert desk.read(raw(pack), "p0 o0") == [] and desk.due() == []
    again = client.Partner("acme-experts", client.Schemas(PARTNER_DIR), tmp_path / "work", "Dr E", 0)
    assert again.read(raw(pack), "p0 o0") == [] and again.due() == []
    assert again.tally.duplicates == 1


def test_an_unanswered_pack_survives_a_restart(tmp_path: Path) -> None:
    first = client.Partner("acme-experts", client.Schemas(PARTNER_DIR), tmp_path / "w", "Dr E", 3600)
    first.read(raw(request()), "p0 o0")
    second = client.Partner("acme-experts", client.Schemas(PARTNER_DIR), tmp_path / "w", "Dr E", 0)
    assert [o["type"] for o in second.due()] == ["opinion_given"]


def test_bad_messages_are_skipped_by_field_without_logging_their_content(
        desk: Any, caplog: pytest.LogCaptureFixture) -> None:
    secret = "Jane Doe 9434765919"
    bad = [b"", b"\xff\xfe", b"not json", b"[1, 2]", raw("text"), raw({"type": "case_opened"}),
           raw({**request(), "diagnosis_summary": 42, "age_band": secret}),
           raw({**request(), "nhs_number": secret}),
           raw({k: v for k, v in request().items() if k != "pack_id"}),
           raw({**json.loads(EXAMPLES["opinion_given"]().model_dump_json()), "summary": secret}),
           None]
    with caplog.at_level(logging.INFO, logger="partner"):
        for n, message in enumerate(bad):
            assert desk.read(message, f"p0 o{n}") == []
    assert desk.tally.invalid == len(bad) and desk.due() == []
    text = caplog.text
    assert "9434765919" not in text and "Jane" not in text
    assert "pack_id: missing" in text and "nhs_number: not a field" in text
    assert "diagnosis_summary: fails type" in text or "age_band" not in text


def test_an_opinion_rejected_is_counted_and_needs_no_answer(desk: Any) -> None:
    rejected = json.loads(EXAMPLES["opinion_rejected"]().model_dump_json())
    assert desk.read(raw(rejected), "p0 o0") == []
    assert desk.tally.rejected == 1


def test_bad_arguments_name_the_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert client.main(["--partner", "Bad Name!"]) == 2
    assert "--partner" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.write_text("")
    assert client.main(["--partner", "acme", "--password-file", str(empty)]) == 2
    assert "--password-file" in capsys.readouterr().err
    assert client.main(["--partner", "acme", "--password-file", str(tmp_path / "missing")]) == 2
    assert client.main(["--partner", "acme", "--schemas", str(tmp_path)]) == 2
    assert "--schemas" in capsys.readouterr().err


def test_no_broker_is_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = client.main(["--partner", "acme", "--bootstrap", "127.0.0.1:1", "--work-dir", str(tmp_path),
                         "--connect-timeout", "1"])
    assert code == 3
    assert "unavailable" in capsys.readouterr().err
