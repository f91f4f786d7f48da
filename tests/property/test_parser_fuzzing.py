"""Fuzzing the input files (issue 10, point 7): the case request parser, the policy register
parser, and `cases open` / `cases policies load` run in-process on arbitrary file contents.

The contract (SPEC sections 2-4): a parser returns or raises `BadInput`, never anything
else, and what it returns is valid by the section's rules; the command line exits 0, 1 or 2
whatever the file holds, and a file it calls bad input (exit 2) records nothing.

The inputs: arbitrary JSON values (`st.recursive`), the valid examples of tests/fixtures.py
(REQUEST, POLICY) with keys dropped, values replaced by wrong types, nulls, blanks, unicode,
huge numbers and near-miss dates, keys added; arbitrary text and bytes; character-level
edits of the valid files. Three kinds of input that break the contract today are kept out of
the random ones and pinned by the tests at the end of the file (each was a bug, now fixed):
JSON nested deeper than Python's recursion limit, integer literals over 4,300 digits, and
lone surrogate escapes ("\\ud800") in text.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import tempfile
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from services.bootstrap import EmbeddedRuntime
from services.cli import main
from services.common.errors import BadInput
from services.common.validation import is_blank
from services.intake.application import condition_facts
from services.intake.domain.eligibility import RULES, decide
from services.intake.domain.identifiers import nhs_number_is_valid
from services.intake.register_file import parse_register
from services.intake.request_file import CaseRequest, parse_case_request
from tests.fixtures import POLICY, REQUEST

TODAY = date(2025, 6, 12)
FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
#: Each `cases` call opens the stores: fewer examples.
CLI = settings(FUZZ, max_examples=30)

# -- strategies ---------------------------------------------------------------------------------

#: Huge numbers, but under the 4,300-digit limit of int() (beyond it: a test at the end).
numbers = st.one_of(
    st.integers(), st.integers(0, 4000).map(lambda n: 10**n), st.integers(0, 4000).map(lambda n: -(10**n)),
    st.sampled_from([0, -1, 2**31, 2**63, -(2**63)]),
    st.floats(), st.sampled_from([1e308, -1e308, 5e-324, 0.5, -0.0]),
)
texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from([
        "", " ", "\t\n", "\u00a0", "\u2003", "\u200b", "\ufeff", "\x00", "null", "true",
        "9999-99-99", "2025-02-30", "0000-01-01", "0001-01-01", "9999-12-31", "2025-6-1",
        "2025-06-12T09:00:00", "12/06/2025", "\uff12\uff10\uff12\uff15-\uff10\uff16-\uff11\uff12",
        "\u0662\u0660\u0662\u0665-\u0660\u0666-\u0661\u0662", "9434765919", "943 476 5919",
        "943-476-5919", "\uff19434765919", "943476591", "94347659190", "ENG", "eng", "XYZ",
        "acute", "ACUTE", "chronic", "moratorium", "active", "third_party", "M75.1",
        "\U0001f600", "Zoë Ğüllü", "\u202eevil",
    ]),
    st.integers(100, 100_000).map(lambda n: "a" * n),  # long text
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=20,
)


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON document, the root first."""
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from paths(value, (*prefix, index))


def at(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """The document with one to three changes: a key dropped, a value replaced (wrong
    type, null, blank, unicode, huge number, near-miss date), wrapped in a list, turned into
    its text, or a key added."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(paths(doc))))
        how = draw(st.sampled_from(["drop", "replace", "replace", "null", "wrap", "stringify", "add"]))
        if not path:  # the root
            if how == "replace":
                return draw(json_values)
            if isinstance(doc, dict):
                doc[draw(texts)] = draw(json_values)
            continue
        parent, key = at(doc, path[:-1]), path[-1]
        if how == "drop":
            del parent[key]
        elif how == "replace":
            parent[key] = draw(json_values)
        elif how == "null":
            parent[key] = None
        elif how == "wrap":
            parent[key] = [parent[key]]
        elif how == "stringify":
            parent[key] = json.dumps(parent[key]) if not isinstance(parent[key], str) else parent[key].upper()
        elif isinstance(parent, dict):
            parent[draw(texts)] = draw(json_values)
        else:
            parent.append(draw(json_values))
    return doc


def as_json(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    return strategy.map(json.dumps)


@st.composite
def edited(draw: st.DrawFn, text: str) -> str:
    """The file's text with a few characters deleted, inserted or replaced."""
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 5)))
        text = text[:i] + draw(st.text(max_size=3)) + text[j:]
    return text


REQUEST_TEXT, REGISTER_TEXT = json.dumps(REQUEST), json.dumps({"policies": [POLICY]})
request_files = st.one_of(
    as_json(mutated(REQUEST)), as_json(mutated(REQUEST)), as_json(json_values),
    edited(REQUEST_TEXT), st.text(max_size=200),
)
register_files = st.one_of(
    as_json(mutated({"policies": [POLICY]})),
    as_json(st.lists(mutated(POLICY), max_size=3).map(lambda ps: {"policies": ps})),
    as_json(json_values), edited(REGISTER_TEXT), st.text(max_size=200),
)

# -- what a parser may do ------------------------------------------------------------------------


def returns_or_bad_input(parse: Callable[[], Any]) -> Any:
    """The parser's result, or None when it said bad input; anything else fails the test."""
    try:
        result = parse()
    except BadInput as bad:
        assert bad.field and bad.problem, (bad.field, bad.problem)
        event(f"bad input: {bad.field.split('[')[0]}")
        return None
    event("parsed")
    return result


def check_request(req: CaseRequest, today: date) -> None:
    """What the parser accepts is valid by SPEC section 4."""
    m, c = req.member, req.condition
    for text in (req.policy_number, m.name, m.postcode, c.name, c.specialty, req.proposed_treatment):
        assert isinstance(text, str) and not is_blank(text)
    assert len(m.nhs_number) == 10 and m.nhs_number.isascii() and m.nhs_number.isdigit()
    assert nhs_number_is_valid(m.nhs_number)
    assert m.nation in ("ENG", "WLS", "SCT", "NIR") and c.nature in ("acute", "chronic")
    for day in (req.requested_on, m.date_of_birth, c.diagnosed_on, *c.history):
        assert isinstance(day, date) and day <= today
    assert c.diagnosed_on <= req.requested_on and m.date_of_birth <= req.requested_on


@FUZZ
@given(text=request_files, today=st.sampled_from([TODAY, date.max]) | st.dates())
def test_the_request_parser_returns_or_says_bad_input(text: str, today: date) -> None:
    req = returns_or_bad_input(lambda: parse_case_request(text, today))
    if req is not None:
        check_request(req, today)


@FUZZ
@given(text=register_files)
def test_the_register_parser_returns_or_says_bad_input(text: str) -> None:
    terms = returns_or_bad_input(lambda: parse_register(text))
    if terms is None:
        return
    assert len({t.number for t in terms}) == len(terms)
    for t in terms:
        assert not is_blank(t.number) and not is_blank(t.insurer) and not is_blank(t.product)
        assert t.status in ("active", "lapsed", "cancelled")
        assert t.underwriting in ("moratorium", "full_medical", "medical_history_disregarded")
        assert t.end_date is None or t.end_date >= t.start_date
        assert 1 <= t.second_opinion.sla_working_days <= 30
        assert t.second_opinion.model is not None or not t.second_opinion.included


def test_the_valid_examples_parse() -> None:
    """The fuzzing starts from files that are valid: otherwise it tests only refusals."""
    check_request(parse_case_request(REQUEST_TEXT, TODAY), TODAY)
    assert [t.number for t in parse_register(REGISTER_TEXT)] == [POLICY["number"]]


# -- eligibility over what the parsers accept --------------------------------------------------

#: Policy dates from 1900 on (earlier ones are bad input: a test at the end).
policy_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(9999, 12, 31))
request_dates = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)


@st.composite
def policy_and_request(draw: st.DrawFn) -> tuple[str, str]:
    start = draw(policy_dates)
    end = draw(st.none() | st.dates(min_value=start, max_value=date(9999, 12, 31)))
    p = {**POLICY, "start_date": start.isoformat(), "end_date": end.isoformat() if end else None,
         "status": draw(st.sampled_from(["active", "lapsed", "cancelled"])),
         "underwriting": draw(st.sampled_from(["moratorium", "full_medical", "medical_history_disregarded"])),
         "exclusions": draw(st.lists(st.sampled_from(["M75", "m75.1", "M7", "K80.2", " ", "Rotator cuff tear"]),
                                     max_size=3))}
    days = sorted(draw(st.lists(request_dates, min_size=2, max_size=6)))
    history, diagnosed, requested = days[:-2], days[-2], days[-1]
    r: dict[str, Any] = copy.deepcopy(REQUEST)
    r["requested_on"] = requested.isoformat()
    born = max(requested - timedelta(days=draw(st.integers(0, 40000))), date(1900, 1, 1))
    r["member"]["date_of_birth"] = born.isoformat()
    r["condition"] |= {"diagnosed_on": diagnosed.isoformat(), "history": [d.isoformat() for d in history],
                       "nature": draw(st.sampled_from(["acute", "chronic"]))}
    return json.dumps({"policies": [p]}), json.dumps(r)


@FUZZ
@given(files=policy_and_request())
def test_eligibility_decides_every_request_the_parsers_accept(files: tuple[str, str]) -> None:
    register, request = files
    terms = parse_register(register)[0]
    req = parse_case_request(request, TODAY)
    decision = decide(terms, req.requested_on, condition_facts(req))
    event(f"reasons: {len(decision.reasons)}")
    assert list(decision.reasons) == [r for r in RULES if r in decision.reasons]  # SPEC order
    assert "policy_not_found" not in decision.reasons


# -- the command line ------------------------------------------------------------------------


@contextlib.contextmanager
def home_with_policies() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="cases-fuzz-") as tmp, pytest.MonkeyPatch.context() as env:
        env.setenv("CASES_STORE", "sqlite")
        env.delenv("CASES_BUS", raising=False)
        home = Path(tmp) / "home"
        register = Path(tmp) / "register.json"
        register.write_text(REGISTER_TEXT)
        assert cases(home, "policies", "load", str(register))[0] == 0
        yield home


def cases(home: Path, *args: str) -> tuple[int, str]:
    """`cases --home HOME ARGS --json` in this process: the exit code and stdout."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["--home", str(home), *args, "--json"])
    return code, out.getvalue()


def stored(home: Path, type_name: str) -> int:
    rt = EmbeddedRuntime(home, readonly=True)
    try:
        return sum(1 for e in rt.intake.stored_events() if e.type_name == type_name)
    finally:
        rt.close()


file_contents = st.one_of(
    request_files.map(str.encode), st.binary(max_size=300),
    st.sampled_from([b"", b"{}", b"[]", b"null", b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00", REQUEST_TEXT.encode()]),
)


def test_cli_open_exits_0_1_or_2_on_any_file() -> None:
    with home_with_policies() as home:
        path = home.parent / "request.json"

        @CLI
        @given(content=file_contents)
        def open_any(content: bytes) -> None:
            path.write_bytes(content)
            before = stored(home, "case_opened")
            code, out = cases(home, "open", str(path))
            assert code in (0, 1, 2), code
            event(f"exit {code}")
            printed = json.loads(out)
            if code == 2:
                assert printed["error"] == "bad_input" and printed["field"]
                assert stored(home, "case_opened") == before, "bad input recorded a case"
            elif code == 0:
                assert printed["status"] in ("accepted", "declined") and printed["case_id"]
                assert stored(home, "case_opened") == before + 1

        open_any()


def test_cli_policies_load_exits_0_1_or_2_on_any_file() -> None:
    with home_with_policies() as home:
        path = home.parent / "register-fuzz.json"

        @CLI
        @given(content=st.one_of(register_files.map(str.encode), st.binary(max_size=300)))
        def load_any(content: bytes) -> None:
            path.write_bytes(content)
            before = stored(home, "policy_terms_recorded")
            code, out = cases(home, "policies", "load", str(path))
            assert code in (0, 1, 2), code
            event(f"exit {code}")
            if code == 2:
                assert json.loads(out)["error"] == "bad_input"
                assert stored(home, "policy_terms_recorded") == before, "bad input recorded a policy"

        load_any()


# -- what the fuzzing found (each once a traceback; now bad input) -----------------------------

PARSERS = {
    "request": lambda text: parse_case_request(text, TODAY),
    "register": parse_register,
}


@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_deeply_nested_json_is_bad_input(parser: str) -> None:
    with pytest.raises(BadInput):
        PARSERS[parser]("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_a_huge_integer_literal_is_bad_input(parser: str) -> None:
    with pytest.raises(BadInput):
        PARSERS[parser]('{"policy_number": ' + "9" * 5000 + "}")


@pytest.mark.parametrize("command", ["open", "policies load"])
def test_a_lone_surrogate_is_bad_input(command: str) -> None:
    with home_with_policies() as home:
        doc = copy.deepcopy(REQUEST) if command == "open" else {"policies": [copy.deepcopy(POLICY)]}
        if command == "open":
            doc["proposed_treatment"] = "repair \ud800"
        else:
            doc["policies"][0]["product"] = "Plan \ud800"
        path = home.parent / "surrogate.json"
        path.write_text(json.dumps(doc))  # ensure_ascii: the file holds the escape "\ud800"
        assert cases(home, *command.split(), str(path))[0] == 2


def test_a_policy_starting_before_1900_is_bad_input() -> None:
    with home_with_policies() as home:
        register = home.parent / "year-one.json"
        register.write_text(json.dumps({"policies": [{**POLICY, "start_date": "0001-01-01"}]}))
        assert cases(home, "policies", "load", str(register))[0] == 2
