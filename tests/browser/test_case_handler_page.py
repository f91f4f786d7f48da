"""A case handler works a case from request to report through the page, in Chromium."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Served, serve, shot, sign_in
from tests.browser.seed import IDENTIFIERS, IN_HOUSE_POLICY, seed
from tests.fixtures import request


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    home = tmp_path / "home"
    seed(home)
    yield from serve(home)


def tab_to(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab, as a keyboard user does, until the element has the focus."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement === document.querySelector(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never took the focus by Tab")


def status_message(page: Page) -> str:
    return page.get_by_role("status").inner_text()


def test_a_case_handler_walks_a_case_to_its_report_in_the_page(browser: Browser, served: Served) -> None:
    # Signing in with the keyboard alone: the page without a session sends us to sign-in.
    context = browser.new_context(base_url=served.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    assert page.goto("/").status == 401  # no session: the sign-in form, answered with 401
    expect(page.locator("html")).to_have_attribute("lang", "en-GB")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    tab_to(page, "#token")
    page.keyboard.type(served.token("case_handler", "Hannah Handler"))
    page.keyboard.press("Enter")
    expect(page.get_by_text("Signed in as Hannah Handler")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cases")

    # Opening a case by pasting the request JSON of `cases open`.
    page.get_by_role("link", name="Open a case").click()
    page.get_by_label("Request JSON").fill("{not json")
    page.get_by_role("button", name="Open the case").click()
    expect(page.locator("#request_json-error")).to_contain_text("request: malformed JSON")
    expect(page.get_by_label("Request JSON")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Request JSON").fill(json.dumps(request(policy_number=IN_HOUSE_POLICY), indent=2))
    page.get_by_role("button", name="Open the case").click()
    expect(page.get_by_role("status")).to_have_text("The case was opened.")
    expect(page.locator(".summary .status").first).to_have_text("awaiting_consent")
    case_url = page.url.split("?")[0]
    for identifier in IDENTIFIERS:  # the member reference, never the member
        assert identifier not in page.content()

    # Bad input next to its field; a refusal as an alert naming the reason.
    page.get_by_role("button", name="Add the record").click()
    expect(page.locator("#source-error")).to_contain_text("must not be empty")
    page.get_by_label("Source (who sent it)").fill("Hospital radiology")
    page.get_by_role("button", name="Add the record").click()
    expect(page.get_by_role("alert")).to_contain_text("consent_required")

    # Consents, then a record added with the keyboard alone (Tab, arrow keys, typing, Enter).
    page.goto(case_url)
    page.get_by_role("button", name="Grant records access").click()
    expect(page.get_by_role("status")).to_have_text("Consent granted.")
    page.get_by_role("button", name="Grant share with gp").click()
    expect(page.get_by_role("status")).to_have_text("Consent granted.")
    expect(page.get_by_text("In force: records_access, share_with_gp.")).to_be_visible()
    expect(page.get_by_role("table", name="Consent history").locator("tbody tr")).to_have_count(2)
    expect(page.locator(".summary .status").first).to_have_text("collecting_records")

    # A form without the session's CSRF token, or sent from another site, does nothing.
    csrf = page.locator("input[name=csrf]").first.input_value()
    for form, headers in (({"scope": "records_access"}, {}),
                          ({"scope": "records_access", "csrf": csrf}, {"Origin": "http://evil.example"})):
        forged = page.request.post(f"{case_url}/consent/withdraw", form=form, headers=headers)
        assert forged.status == 403
    assert "records_access" in served.cases("show", case_url.rsplit("/", 1)[1]).json["consents"]

    page.locator("body").focus()
    tab_to(page, "#record-kind")
    page.keyboard.press("ArrowDown")  # clinical letter -> imaging
    expect(page.locator("#record-kind")).to_have_value("imaging")
    page.keyboard.press("Tab")
    expect(page.locator("#record-source")).to_be_focused()
    page.keyboard.type("Hospital radiology")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Record added.")
    records = page.get_by_role("table", name="Records received")
    expect(records).to_contain_text("imaging")
    expect(records).to_contain_text("Hospital radiology")

    page.get_by_role("button", name="Mark the records complete").click()
    expect(page.get_by_role("status")).to_have_text("Records marked complete.")
    expect(page.locator(".summary .status").first).to_have_text("in_review")
    expect(page.locator(".summary").first).to_contain_text("working days left")
    reviewer = page.get_by_label("Reviewer who gave it").input_value()
    assert reviewer, "the review names its reviewer"

    # The assigned clinician gives the opinion on the pseudonymised pack.
    clinician = sign_in(browser, served, "clinician", reviewer)
    expect(clinician.get_by_role("heading", level=1)).to_have_text("Packs assigned to you")
    clinician.get_by_role("link", name="Review pack 1").click()
    expect(clinician.get_by_role("heading", level=1)).to_contain_text("Review pack SMO-")
    for identifier in IDENTIFIERS:
        assert identifier not in clinician.content()
    clinician.get_by_label("Outcome").select_option("confirmed")
    clinician.get_by_label("Summary").fill("Surgical repair is the right treatment.")
    clinician.get_by_role("button", name="Submit the opinion").click()
    expect(clinician.get_by_role("status")).to_have_text("Opinion recorded.")
    clinician.context.close()

    # The case handler sees the opinion and delivers the report.
    page.goto(case_url)
    expect(page.get_by_role("heading", name="Opinion")).to_be_visible()
    page.get_by_role("button", name="Deliver the report").click()
    expect(page.get_by_role("status")).to_have_text("Report delivered.")
    expect(page.locator(".summary .status").first).to_have_text("report_issued")
    expect(page.get_by_text(re.compile(r"Delivered on .* to member and gp"))).to_be_visible()
    timeline = page.get_by_role("table", name=re.compile("Every event of the case"))
    for event in ("Case opened", "Consent granted", "Record received", "Records completed",
                  "Opinion submitted", "Report delivered"):
        expect(timeline).to_contain_text(event)
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    shot(page, "case-page")

    # The list shows it issued, and the filter finds it.
    page.get_by_role("link", name="Cases", exact=True).click()
    page.get_by_label("Status").select_option("report_issued")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("table")).to_contain_text("report_issued")
    expect(page.get_by_role("table").locator("caption")).to_contain_text("1 case matching the filters")
    shot(page, "case-list")

    # Signing out ends the session: the page asks for a token again.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    assert page.goto(case_url).status == 401
    expect(page.get_by_label("Bearer token")).to_be_visible()
    context.close()
