"""An auditor finds an SLA breach; a clinician sees only pseudonymised packs; roles cannot
force what their role may not do. Two cases went into review in June 2025 (the seed's clock),
so on today's clock their reviews are long past due and `cases sla sweep` flags them."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import Served, serve, shot, sign_in
from tests.browser.seed import IDENTIFIERS, seed
from tests.e2e.cli import Cases


@pytest.fixture
def late(tmp_path: Path) -> Iterator[tuple[Served, dict[str, UUID]]]:
    home = tmp_path / "home"
    made = seed(home, late_network=True, late_in_house=True)
    for served in serve(home):
        swept = served.cases("sla", "sweep")
        assert swept.code == 0, swept.stderr
        yield served, made


def test_an_auditor_finds_the_breach_in_the_list_and_the_findings(
        browser: Browser, late: tuple[Served, dict[str, UUID]]) -> None:
    served, made = late
    late_ref = served.cases("show", str(made["network"])).json["member_ref"]
    # Someone reads the member's identifiers at the command line: the read is recorded.
    reader = Cases(served.home, {"CASES_USER": "Rita Reader"})
    assert reader("replay", str(made["network"]), "--reveal").code == 0
    page = sign_in(browser, served, "auditor", "Audrey Auditor")

    # The list: the breached case's row says so in words, with a visual cue beside them.
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=late_ref))
    expect(row.get_by_text("SLA breached")).to_be_visible()
    expect(row).to_have_class(re.compile(r"\bbreached\b"))
    expect(row).to_contain_text("working days overdue")
    for identifier in IDENTIFIERS:
        assert identifier not in page.content()
    page.get_by_label("SLA breached").select_option("yes")
    page.get_by_label("Delivery model").select_option("third_party")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"breached=yes"))
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody")).to_contain_text(late_ref)
    shot(page, "auditor-list-breached")

    # An auditor reads and changes nothing: no forms on a case, and a forced form is 403.
    page.get_by_role("link", name=late_ref).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(late_ref)
    expect(page.get_by_role("heading", name="What you can do now")).to_have_count(0)
    expect(page.get_by_role("heading", name="Audit findings")).to_be_visible()
    csrf = page.locator("input[name=csrf]").first.input_value()
    forced = page.request.post(page.url.split("?")[0] + "/consent/grant",
                               form={"csrf": csrf, "scope": "share_with_gp"})
    assert forced.status == 403
    assert "share_with_gp" not in served.cases("show", str(made["network"])).json["consents"]

    # The auditor's view: verify, the finding, and the signed evidence bundle.
    page.get_by_role("link", name="Audit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit")
    expect(page.get_by_text(re.compile(r"Verified: the log of \d+ events is intact"))).to_be_visible()
    findings = page.get_by_role("table", name=re.compile(r"finding"))
    finding = findings.get_by_role("row").filter(has=page.get_by_role("link", name=late_ref))
    expect(finding).to_contain_text("SLA breached")
    expect(finding).to_contain_text("was not met")
    reads = page.get_by_role("table", name=re.compile("read of a member's identifiers"))
    read = reads.get_by_role("row").filter(has=page.get_by_role("link", name=late_ref))
    expect(read).to_contain_text("Rita Reader")
    shot(page, "auditor-findings")
    with page.expect_download() as download:
        finding.get_by_role("link", name=re.compile("Evidence bundle")).click()
    bundle = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    case_id = str(made["network"])
    assert {f"manifest-{case_id}.json", f"manifest-{case_id}.sig"} <= set(bundle.namelist())
    evidence = b"".join(bundle.read(name) for name in bundle.namelist())
    for identifier in IDENTIFIERS:
        assert identifier.encode() not in evidence
    # The bundle checks out offline, as `cases verify --bundle` checks one written by replay --export.
    unpacked = served.home.parent / "bundle"
    bundle.extractall(unpacked)
    checked = served.cases("verify", "--bundle", str(unpacked))
    assert checked.code == 0 and checked.json["ok"] is True, checked.stdout
    page.context.close()


def test_a_clinician_sees_only_the_pseudonymised_packs_assigned_to_them(
        browser: Browser, late: tuple[Served, dict[str, UUID]]) -> None:
    served, made = late
    state = served.cases("show", str(made["in_house"])).json
    reviewer = state["review"]["reviewer"]
    page = sign_in(browser, served, "clinician", reviewer)

    expect(page.get_by_role("heading", level=1)).to_have_text("Packs assigned to you")
    expect(page.locator("tbody tr")).to_have_count(1)  # the network's case is not theirs
    expect(page.get_by_role("link", name="Open a case")).to_have_count(0)
    expect(page.get_by_role("link", name="Audit")).to_have_count(0)
    for secret in (*IDENTIFIERS, state["member_ref"]):
        assert secret not in page.content()

    page.get_by_role("link", name="Review pack 1").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Review pack SMO-")
    expect(page.get_by_text("Rotator cuff tear")).to_be_visible()
    for secret in (*IDENTIFIERS, state["member_ref"]):
        assert secret not in page.content()
    shot(page, "clinician-pack")

    # A case page by its address is refused, and so is a pack not assigned to them.
    for address in (f"/case/{made['in_house']}", f"/pack/{made['network']}", f"/case/{made['network']}"):
        response = page.goto(address)
        assert response is not None and response.status == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("Not open to your role")
        for secret in (*IDENTIFIERS, state["member_ref"]):
            assert secret not in page.content()
    # Bad input on their opinion shows next to the field; nothing recorded.
    page.goto(f"/pack/{made['in_house']}")
    page.get_by_role("button", name="Submit the opinion").click()
    expect(page.locator("#summary-error")).to_contain_text("must not be empty")
    assert served.cases("show", str(made["in_house"])).json["opinion"] is None
    page.context.close()


def test_a_token_that_is_not_valid_is_refused_at_sign_in(browser: Browser, tmp_path: Path) -> None:
    home = tmp_path / "home"
    seed(home)
    for served in serve(home):
        context = browser.new_context(base_url=served.url)
        page = context.new_page()
        assert page.goto("/audit").status == 401  # the sign-in form, in place
        expect(page.get_by_label("Bearer token")).to_be_visible()
        token = served.token("auditor", "Audrey Auditor")
        page.get_by_label("Bearer token").fill(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#token-error")).to_contain_text("not valid")
        expect(page.get_by_label("Bearer token")).to_have_attribute("aria-invalid", "true")
        page.get_by_label("Bearer token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/audit$"))  # back where they were going
        cookie = next(c for c in context.cookies() if c["name"] == "cases_token")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""  # no script can read the session
        # Without a session every path answers 401: the JSON API with its error, the pages
        # with the sign-in form.
        assert httpx.get(f"{served.url}/cases").status_code == 401
        first_page = httpx.get(f"{served.url}/")
        assert first_page.status_code == 401 and "Bearer token" in first_page.text
        context.close()
