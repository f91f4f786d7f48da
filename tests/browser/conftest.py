"""Browser tests: Debian's Chromium, driven by Playwright for Python, against `cases serve`
started as a real process on a free port over a temporary home (the embedded runtime), with
tokens from `cases token`. Playwright's own browser download is not available here, so the
system browser is launched by path (infra/browser/install.sh installs it where absent).

Screenshots go to var/test-artifacts/browser/ (gitignored): look at them when a test fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.cli import ROOT, Cases

ARTIFACTS = ROOT / "var" / "test-artifacts" / "browser"
#: Generous: two cores shared by several test runs; every wait is on a condition.
WAIT_MS = 60_000
expect.set_options(timeout=WAIT_MS)


def chromium_path() -> str:
    """The binary itself where Debian puts it (its /usr/bin wrapper only adds stderr noise)."""
    for candidate in ("/usr/lib/chromium/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    raise AssertionError("no chromium here: run `bash infra/browser/install.sh` (make test does)")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield launched
        finally:
            launched.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    cases: Cases
    home: Path

    def token(self, role: str, name: str) -> str:
        made = self.cases("token", "--role", role, "--name", name)
        assert made.code == 0, made.stderr
        return str(made.json["token"])


def serve(home: Path) -> Iterator[Served]:
    """`cases serve` on a free port until the test ends; waits (bounded) until /health answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "--port", str(port), "--home", str(home)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, "cases serve exited before it answered"
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "cases serve did not answer /health within 2 minutes"
            time.sleep(0.2)
        yield Served(url, Cases(home), home)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def shot(page: Page, name: str) -> Path:
    """A full-page screenshot kept as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(browser: Browser, served: Served, role: str, name: str) -> Page:
    """A fresh browser context (its own cookies) signed in by pasting the token."""
    context = browser.new_context(base_url=served.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    assert page.goto("/").status == 401  # no valid token: the sign-in form, with 401
    page.get_by_label("Bearer token").fill(served.token(role, name))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible()
    return page
