"""Debian's Chromium, driven by Playwright, on pages served by a real `backburner serve`.

Missing Chromium: a skip with its reason locally, a failure in CI (``CI=true``) — `make test`
installs it. The test page is written into a document of the server's own origin (its
``/healthz``), so it loads ``/static/backburner.js`` and calls the API without CORS.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

from tests.api.test_real_server import serving

CHROMIUM = Path("/usr/bin/chromium")

#: The test page: imports the module the way an app's page does and exposes it to the tests.
PAGE_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>backburner browser client test page</title></head>
<body><ul id="jobs"></ul>
<script type="module">
import * as backburner from "/static/backburner.js";
window.backburner = backburner;
</script></body></html>"""


def in_ci() -> bool:
    """``CI`` set to anything but false/0, as CI services do."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


@dataclass
class Server:
    """A running `backburner serve`: its URL and alice's key."""

    url: str
    auth: dict[str, str]

    def token(self, scope: str | None = None) -> str:
        """A browser token for alice (in ``scope``, if given), minted with her key."""
        body: dict[str, Any] = {"owner": "alice"} | ({"scope": scope} if scope else {})
        minted = httpx.post(f"{self.url}/v1/tokens", json=body, headers=self.auth, timeout=10)
        assert minted.status_code == 201, minted.text
        return str(minted.json()["token"])

    def submit(
        self, kind: str, data: dict[str, Any], scope: str | None = None, wait: int | None = None
    ) -> dict[str, Any]:
        """Submit as alice from the "app backend" (with her key, not through the page)."""
        body = {"kind": kind, "input": data, "scope": scope}
        headers = self.auth | ({"Prefer": f"wait={wait}"} if wait else {})
        sent = httpx.post(f"{self.url}/v1/jobs", json=body, headers=headers, timeout=40)
        assert sent.status_code in (200, 202), sent.text
        job: dict[str, Any] = sent.json()
        return job


@dataclass
class BrowserPage:
    """A page with the module loaded, and what it logged and requested."""

    page: Page
    url: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    #: Console errors a test provokes on purpose (substrings), e.g. a 422's network log line.
    expected_errors: list[str] = field(default_factory=list)

    def load(self) -> None:
        """(Re)load the test page: the server's origin, then the module imported."""
        self.page.goto(f"{self.url}/healthz")
        self.page.set_content(PAGE_HTML)
        self.page.wait_for_function("window.backburner !== undefined", timeout=5000)

    def reload(self) -> None:
        """Reload, as a visitor does: the page and everything it held are gone."""
        self.page.reload()
        self.page.set_content(PAGE_HTML)
        self.page.wait_for_function("window.backburner !== undefined", timeout=5000)

    def paths(self, fragment: str) -> list[str]:
        """The paths (with query) of the requests made so far containing ``fragment``."""
        return [u.removeprefix(self.url) for u in self.requests if fragment in u]

    def unexpected_errors(self) -> list[str]:
        """Console errors and uncaught exceptions that no test asked for."""
        return [e for e in self.errors if not any(x in e for x in self.expected_errors)]


@pytest.fixture(scope="module")  # not session: its event loop would outlive the module
def browser() -> Iterator[Browser]:
    """Headless Chromium from Debian (never Playwright's download)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)"
        if in_ci():
            pytest.fail(f"{reason}; CI must run the browser tests", pytrace=False)
        pytest.skip(f"{reason}; with CI=true this fails instead")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real server per module (starting one takes a second or two). A short lease: the
    worker hears of a cancel at each heartbeat (every lease/3)."""
    env = {"BACKBURNER_LEASE": "3s"}
    with serving(tmp_path_factory.mktemp("browser"), env=env) as (url, auth, _process):
        yield Server(url, auth)


@pytest.fixture
def test_page(browser: Browser, server: Server) -> Iterator[BrowserPage]:
    """A fresh browser context with the test page loaded; fails if the page logged errors."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    # the server has no favicon; the browser asks for one on the first navigation
    context.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    page = context.new_page()
    opened = BrowserPage(page, server.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            opened.errors.append(f"{message.text} ({message.location.get('url')})")

    def on_request(request: Request) -> None:
        opened.requests.append(request.url)

    page.on("console", on_console)
    page.on("pageerror", lambda error: opened.errors.append(f"uncaught: {error}"))
    page.on("request", on_request)
    opened.load()
    started = time.monotonic()
    yield opened
    context.close()
    assert time.monotonic() - started < 10, "a browser test should take well under 10 s"
    assert opened.unexpected_errors() == [], "the page logged errors"
