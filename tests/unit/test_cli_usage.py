"""Usage errors from the command-line parser are bad input (exit 2, the field named),
never a traceback, whatever version of the parser library is installed."""

from __future__ import annotations

import json

import pytest

from services.cli import main


@pytest.mark.parametrize(("argv", "field"), [
    (["sla", "due", "--start", "2025-06-02", "--working-days", "x", "--nation", "ENG"], "--working-days"),
    (["show"], "case_id"),
    (["consent", "grant", "91f172ba-bc75-4735-910c-e474cc5b2940"], "--scope"),
])
def test_a_usage_error_is_bad_input_naming_the_field(argv: list[str], field: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["error"] == "bad_input" and out["field"] == field


def test_an_unknown_command_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nosuch"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "Usage: cases" in capsys.readouterr().out
