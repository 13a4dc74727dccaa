"""The operator's page, /ui/admin, in Chromium against a real `backburner serve`: signing in
with an admin key, the overview panels and chart, finding a job and reading its event log,
retrying a kind's failed jobs in bulk, and a phone-sized viewport. Screenshots go to
docs/screenshots/admin.png and admin-phone.png."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.api.test_real_server import BIN, ROOT, serving

from .conftest import BrowserPage, Server
from .screenshots import save_screenshot

pytestmark = pytest.mark.slow  # a real server process, and a browser


@dataclass
class AdminServer(Server):
    """The server, with an admin key too."""

    admin_key: str = ""

    def post(self, path: str, body: dict[str, Any], *, wait: int | None = None) -> Any:
        """POST as alice (her key), answering the JSON."""
        headers = self.auth | ({"Prefer": f"wait={wait}"} if wait else {})
        sent = httpx.post(f"{self.url}{path}", json=body, headers=headers, timeout=40)
        assert sent.status_code in (200, 201, 202), sent.text
        return sent.json()

    def log(self, job_id: str) -> list[str]:
        """The statuses in the job's event log, in order."""
        got = httpx.get(f"{self.url}/v1/jobs/{job_id}/log", headers=self.auth, timeout=10)
        return [e["data"]["status"] for e in got.json()["events"] if e["type"] == "status"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdminServer]:
    """One real server for the module (overriding conftest's), and an admin key made with
    ``backburner keys create --admin`` on its database."""
    path = tmp_path_factory.mktemp("admin")
    with serving(path, env={"BACKBURNER_LEASE": "3s"}) as (url, auth, _process):
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("BACKBURNER_")}
        made = subprocess.run(
            [BIN, "keys", "create", "--owner", "ops", "--admin"],
            env={**inherited, "BACKBURNER_DATABASE_URL": f"sqlite:///{path / 'serve.db'}"},
            cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        yield AdminServer(url, auth, made.stdout.strip())


def open_admin(test_page: BrowserPage, key: str, width: int = 1280) -> Page:
    """The operator page at ``width`` px, signed in through the URL's fragment."""
    page = test_page.page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{test_page.url}/ui/admin#key={key}")
    expect(page.locator("#queue-body table, #queue-body .empty")).to_be_visible()
    return page


def fail_chapter(server: AdminServer) -> str:
    """A chapter job that fails at once (its handler cannot read ``seconds``)."""
    job = server.post("/v1/jobs", {"kind": "chapter", "input": {"seconds": "x"}}, wait=10)
    assert job["status"] == "failed", job
    return str(job["id"])


def test_signing_in_needs_an_admin_key(test_page: BrowserPage, server: AdminServer) -> None:
    test_page.expected_errors.append("status of 403")  # the refused overview, in the network log
    page = test_page.page
    page.goto(f"{server.url}/ui/admin")
    page.get_by_label("Admin API key").fill(server.auth["Authorization"].removeprefix("Bearer "))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not an admin key")
    page.get_by_label("Admin API key").fill(server.admin_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Queue")).to_be_visible()
    expect(page.locator("#announcer")).to_contain_text("Signed in.")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Admin API key")).to_be_visible()


def test_the_overview_shows_queue_running_workers_and_the_hour(
    test_page: BrowserPage, server: AdminServer
) -> None:
    fail_chapter(server)
    portrait = {"character": "Ann", "style": {"tone": "warm"}}
    server.post("/v1/jobs", {"kind": "portrait", "input": portrait}, wait=10)
    long = server.post("/v1/jobs", {"kind": "scenes", "input": {"count": 20, "seconds": 10}})
    try:
        page = open_admin(test_page, server.admin_key)
        short = long["id"][:8]
        expect(page.locator("#running-body")).to_contain_text(short)  # queued, then running
        row = page.locator("#queue-body tr", has_text="chapter")
        expect(row.get_by_role("button", name="Retry")).to_be_visible()
        expect(page.locator("#running-body")).to_contain_text("left")
        expect(page.locator("#workers-body .marker.live")).to_have_count(1)
        expect(page.locator("#workers-body")).to_contain_text("ago")
        bars = page.locator("#throughput-body svg rect.seg")
        expect(bars.first).to_be_attached()
        label = page.locator("#throughput-body svg").get_attribute("aria-label") or ""
        assert "succeeded" in label and "failure rate" in label
        expect(page.locator(".tile", has_text="Failure rate")).to_contain_text("%")
        save_screenshot(page, "admin.png")
        page.set_viewport_size({"width": 390, "height": 844})
        expect(page.locator("#running-body")).to_contain_text(short)
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= 390, f"the page is {overflow}px wide on a 390px screen"
        retry = row.get_by_role("button", name="Retry")
        assert retry.bounding_box() is not None and retry.bounding_box()["x"] < 390  # type: ignore[index]
        save_screenshot(page, "admin-phone.png")
    finally:
        httpx.post(f"{server.url}/v1/jobs/{long['id']}/cancel", headers=server.auth, timeout=10)


def test_search_finds_a_job_by_id_and_by_dedupe_key_and_shows_its_log(
    test_page: BrowserPage, server: AdminServer
) -> None:
    done = server.post("/v1/jobs", {"kind": "scenes", "input": {"count": 2, "seconds": 0}}, wait=10)
    body = {"kind": "scenes", "input": {"count": 1, "seconds": 0}, "dedupe_key": "episode:7"}
    keyed = server.post("/v1/jobs", body, wait=10)
    page = open_admin(test_page, server.admin_key)
    page.get_by_label("Search by").select_option("id")
    page.get_by_label("Value").fill(done["id"])
    page.get_by_label("Value").press("Enter")
    details = page.locator("#job")
    expect(details.get_by_role("heading", name=done["id"])).to_be_focused()
    log = details.locator("table.log tbody tr")
    expect(log.filter(has_text="running → succeeded")).to_have_count(1)
    expect(log.filter(has_text="Rendering scene 2/2")).to_have_count(1)
    assert log.count() == len(
        httpx.get(f"{server.url}/v1/jobs/{done['id']}/log", headers=server.auth).json()["events"]
    )
    details.get_by_role("button", name="Close").click()
    expect(details).to_be_hidden()
    page.get_by_label("Search by").select_option("dedupe_key")
    page.get_by_label("Value").fill("episode:7")
    page.get_by_role("button", name="Search").click()
    found = page.locator("#search-body").get_by_role("button", name=f"Job {keyed['id']}")
    expect(found).to_be_visible()
    expect(page.locator("#announcer")).to_have_text("Found 1 job.")
    found.press("Enter")  # keyboard reachable
    expect(details).to_contain_text("episode:7")
    expect(details.locator("table.log tbody tr").first).to_contain_text("queued")


def test_bulk_retry_requeues_a_kinds_failed_jobs_after_a_confirm(
    test_page: BrowserPage, server: AdminServer
) -> None:
    failed = [fail_chapter(server) for _ in range(2)]
    page = open_admin(test_page, server.admin_key)
    row = page.locator("#queue-body tr", has_text="chapter")
    row.get_by_role("button", name="Retry").click()
    expect(row).to_contain_text("Retry")
    assert all(server.log(job_id) == ["queued", "running", "failed"] for job_id in failed)
    row.get_by_role("button", name="Cancel").click()
    row.get_by_role("button", name="Retry").click()
    confirm = row.get_by_role("button", name="Yes, retry")
    expect(confirm).to_be_focused()
    confirm.press("Enter")
    expect(page.locator("#queue-outcome")).to_contain_text("Re-queued")
    expect(page.locator("#announcer")).to_contain_text("failed chapter job")
    for job_id in failed:  # the same ids went back to the queue (and fail again: same input)
        assert server.log(job_id)[:4] == ["queued", "running", "failed", "queued"]
