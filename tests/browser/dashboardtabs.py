"""Helpers of `test_dashboard.py`: the server as the tests use it, and an open tab of ``/ui``
that records what its cards went through."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, ConsoleMessage, Locator, Page, expect

from .conftest import Server
from .screenshots import save_screenshot

__all__ = ["Dashboard", "Tab", "new_tab", "open_tab"]

#: Records each card's states and progress values as they change (the page may pass
#: through a state faster than a test polls for it).
RECORDER = """() => {
  window.states = {}; window.progress = {};
  const note = (card) => {
    const seen = (window.states[card.dataset.jobId] ??= []);
    if (seen.at(-1) !== card.dataset.state) seen.push(card.dataset.state);
  };
  const watch = (records) => {
    for (const record of records) {
      const target = record.target;
      if (record.attributeName === "data-state") note(target);
      if (record.attributeName === "aria-valuenow" && target.hasAttribute("aria-valuenow")) {
        const id = target.closest("article").dataset.jobId;
        (window.progress[id] ??= []).push(Number(target.getAttribute("aria-valuenow")));
      }
      for (const node of record.addedNodes) {
        if (node.nodeType !== 1) continue;
        if (node.matches("article.job")) note(node);
        node.querySelectorAll("article.job").forEach(note);
      }
    }
  };
  document.querySelectorAll("article.job").forEach(note);
  const attributeFilter = ["data-state", "aria-valuenow"];
  new MutationObserver(watch).observe(document.body,
    {subtree: true, childList: true, attributes: true, attributeFilter});
}"""


@dataclass
class Dashboard(Server):
    """The server, and the directory whose files release gated jobs."""

    gates: Path = Path()

    def release(self, job_id: str) -> None:
        (self.gates / job_id).touch()

    def credits(self) -> dict[str, Any]:
        got = httpx.get(f"{self.url}/v1/credits", headers=self.auth, timeout=10)
        body: dict[str, Any] = got.json()
        return body

    def delete_every_job(self) -> None:
        listed = httpx.get(f"{self.url}/v1/jobs?limit=1000", headers=self.auth, timeout=10)
        for job in listed.json()["jobs"]:
            httpx.delete(f"{self.url}/v1/jobs/{job['id']}", headers=self.auth, timeout=10)


@dataclass
class Tab:
    """One open page of the dashboard, and the console errors it logged."""

    page: Page
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def card(self, job_id: str) -> Locator:
        return self.page.locator(f"article.job[data-job-id='{job_id}']")

    def in_state(self, job_id: str, state: str) -> Locator:
        card = self.card(job_id)
        expect(card).to_have_attribute("data-state", state)
        return card

    def newest_card_id(self) -> str:
        card = self.page.locator("article.job").first
        expect(card).to_be_visible()
        return str(card.get_attribute("data-job-id"))

    def record(self) -> None:
        self.page.evaluate(RECORDER)

    def states(self, job_id: str) -> list[str]:
        seen: list[str] = self.page.evaluate("(id) => window.states[id] ?? []", job_id)
        return seen

    def shot(self, name: str) -> None:
        save_screenshot(self.page, name)


def new_tab(context: BrowserContext, tabs: list[Tab]) -> Tab:
    """A blank page that notes its console errors and requests."""
    page = context.new_page()
    tab = Tab(page)
    tabs.append(tab)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            tab.errors.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
    page.on("request", lambda request: tab.requests.append(request.url))
    return tab


def open_tab(
    context: BrowserContext,
    tabs: list[Tab],
    server: Dashboard,
    path: str = "/ui",
    token: bool = True,
) -> Tab:
    """Open ``path``: signed in with a fresh browser token in the fragment (a reload or a
    second tab finds it kept in localStorage)."""
    tab = new_tab(context, tabs)
    page = tab.page
    page.goto(f"{server.url}{path}" + (f"#token={server.token()}" if token else ""))
    expect(page.locator("#signout")).to_be_visible()
    tab.record()
    return tab
