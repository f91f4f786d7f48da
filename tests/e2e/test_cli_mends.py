"""Small things a new user meets first: a malformed digest, where the demo keeps its stores."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.cli import Cases
from tests.fixtures import REQUEST, policy


def test_verify_with_a_malformed_digest_is_bad_input(tmp_path: Path) -> None:
    cases = Cases(tmp_path / "home")
    cases("policies", "load", cases.write("policies.json", {"policies": [policy()]}))
    cases("open", cases.write("case.json", REQUEST))
    done = cases("verify", "--expect", "not-a-digest")
    assert done.code == 2 and done.json["field"] == "--expect"
    head = cases("verify").json["head"]
    assert cases("verify", "--expect", head).json["ok"] is True


def test_the_demo_says_where_its_stores_are_and_show_finds_its_cases_there(tmp_path: Path) -> None:
    cases = Cases(tmp_path / "home")
    human = cases("demo", "--cases", "4", as_json=False)
    assert human.code == 0, human.stderr
    demo_home = tmp_path / "home" / "demo"
    assert str(demo_home.resolve()) in " ".join(human.stdout.split()).replace("\n", "")
    summary = cases("demo", "--cases", "4").json
    assert summary["home"] == str(demo_home.resolve())
    case = summary["replay"]["case_id"]
    assert Cases(demo_home)("show", case).json["case_id"] == case
    # The parent home holds no stores: a read there says so and creates none.
    missed = cases("show", case)
    assert missed.code == 2 and "demo" in missed.json["problem"]
    assert not (tmp_path / "home" / "intake.sqlite").exists()
