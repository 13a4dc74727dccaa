"""The end user's page, ``/ui``, in Chromium against a real `backburner serve` of
`tests.browser.dashboardapp`: cards that change live over one connection, Retry, Regenerate,
Cancel and Delete, the form from each kind's schema, the credit balance, two tabs, a reload,
a phone's width. Each state is saved to ``docs/screenshots/`` (rewritten when the page looks
different)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.api.test_real_server import BIN, ROOT, serving

from .dashboardtabs import Dashboard, Tab, new_tab, open_tab

pytestmark = pytest.mark.slow  # a real server process, and a browser

ENTRY = "Today I walked to the harbour. A letter waited under the door, unopened."
#: Credits alice starts with; a chapter costs one.
CREDITS = 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """`dashboardapp` served on a loopback port, alice granted credits. A short lease."""
    tmp = tmp_path_factory.mktemp("dashboard")
    gates = tmp / "gates"
    gates.mkdir()
    env = {"BACKBURNER_LEASE": "3s", "DASHBOARD_GATES": str(gates)}
    app = "tests.browser.dashboardapp:app"
    with serving(tmp, env=env, app=app) as (url, auth, _process):
        subprocess.run(
            [BIN, "credits", "grant", "alice", str(CREDITS)],
            env={**os.environ, "BACKBURNER_DATABASE_URL": f"sqlite:///{tmp / 'serve.db'}"},
            cwd=ROOT, capture_output=True, check=True, timeout=60,
        )  # fmt: skip
        yield Dashboard(url, auth, gates)


@pytest.fixture
def context(browser: Browser, server: Dashboard) -> Iterator[BrowserContext]:
    """A fresh browser (its own localStorage); every job alice has is deleted afterwards."""
    made = browser.new_context(viewport={"width": 1000, "height": 900})
    made.set_default_timeout(5000)
    started = time.monotonic()
    yield made
    made.close()
    server.delete_every_job()
    assert time.monotonic() - started < 10, "a dashboard test should take well under 10 s"


@pytest.fixture
def tabs(context: BrowserContext, server: Dashboard) -> Iterator[list[Tab]]:
    """The tabs a test opens (`open_tab`); none may log an unexpected console error."""
    opened: list[Tab] = []
    yield opened
    for tab in opened:
        assert tab.errors == [], "the page logged errors"


def test_submit_from_the_form_and_watch_the_bar_move_then_the_chapter_appear(
    context: BrowserContext, tabs: list[Tab], server: Dashboard
) -> None:
    tab = open_tab(context, tabs, server)
    page = tab.page
    page.get_by_label("Journal entry").fill(ENTRY)
    page.get_by_label("Tone").select_option("wistful")
    page.get_by_role("button", name="Start").click()
    job_id = tab.newest_card_id()
    card = tab.in_state(job_id, "running")
    expect(card.locator(".job-status")).to_have_text("Crafting your chapter…")
    expect(card.locator(".bar")).to_have_attribute("aria-valuenow", "40")
    expect(card.locator(".partial")).to_contain_text("A quiet morning, a letter, and the sea.")
    expect(card.locator(".job-input")).to_contain_text("Today I walked to the harbour.")
    expect(page.get_by_label("Journal entry")).to_have_value("")  # ready for the next one
    tab.shot("running.png")

    server.release(job_id)
    tab.in_state(job_id, "succeeded")
    expect(card.locator(".result h4")).to_have_text("The Letter by the Sea")
    expect(card.locator(".result .mood")).to_have_text("wistful")
    expect(card.locator(".result .prose")).to_contain_text("The tide came in slowly")
    expect(page.locator(".toast")).to_contain_text("Your chapter is ready")
    expect(page.locator("#announcer")).to_contain_text("Your chapter is ready.")
    expect(card.locator(".bar")).to_be_hidden()
    progress = page.evaluate("(id) => window.progress[id]", job_id)
    assert progress == sorted(progress) and len(set(progress)) >= 2, progress  # it moved
    tab.shot("succeeded.png")
    # One connection for every card: the owner's stream, never one per job, from "now" (the
    # owner's history is not replayed on each page load).
    streams = [u for u in tab.requests if "/events" in u]
    assert len(streams) == 1 and "/v1/events?after=latest&access_token=bbt_" in streams[0]
    assert "scope=" not in streams[0]


def test_a_server_side_validation_error_shows_beside_the_field(
    context: BrowserContext, tabs: list[Tab], server: Dashboard
) -> None:
    tab = open_tab(context, tabs, server)
    page = tab.page
    page.get_by_label("Journal entry").fill("Too short.")
    page.get_by_label("Words").fill("50")
    page.get_by_role("button", name="Start").click()
    entry_error = page.locator("#field-journal_entry-error")
    expect(entry_error).to_contain_text("at least 20 characters")
    expect(page.locator("#field-words-error")).to_contain_text("greater than or equal to 100")
    expect(page.get_by_label("Journal entry")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Journal entry")).to_be_focused()
    expect(page.locator("article.job")).to_have_count(0)  # nothing was stored
    tab.shot("form-error.png")
    tab.errors = [e for e in tab.errors if "status of 422" not in e]  # the browser logs it

    page.get_by_label("Journal entry").fill(ENTRY)
    page.get_by_label("Words").fill("300")
    page.get_by_role("button", name="Start").click()
    expect(page.locator("article.job")).to_have_count(1)
    expect(entry_error).to_be_hidden()


def test_a_slow_job_turns_amber_and_retry_brings_it_back_to_running_on_the_same_card(
    context: BrowserContext, tabs: list[Tab], server: Dashboard
) -> None:
    tab = open_tab(context, tabs, server)
    job = server.submit("portrait", {"character": "Ada Lovelace"})  # started elsewhere
    card = tab.in_state(job["id"], "running")
    expect(card.locator(".bar")).to_have_class(re.compile("unknown"))  # no fraction: shimmer
    card = tab.in_state(job["id"], "slow")  # slow_after is 1 s, counted by the page
    expect(card.locator(".job-status")).to_have_text("Taking longer than expected…")
    tab.shot("slow.png")
    card.evaluate("(element) => (element.marked = true)")

    before = len(tab.states(job["id"]))
    assert tab.states(job["id"])[-1] == "slow"
    card.get_by_role("button", name="Retry").click()
    tab.page.wait_for_function(
        "([id, from]) => window.states[id].slice(from).includes('running')", arg=[job["id"], before]
    )
    server.release(job["id"])
    tab.in_state(job["id"], "succeeded")
    assert card.evaluate("(element) => element.marked")  # the same card, not a new one
    expect(card.locator(".result img")).to_be_visible()
    expect(card.locator(".result")).to_contain_text("Ada Lovelace, in warm tones")
    retried = httpx.get(f"{server.url}/v1/jobs/{job['id']}", headers=server.auth).json()
    assert retried["status"] == "succeeded" and retried["attempt"] == 1  # attempts reset


def test_a_failed_job_turns_red_and_regenerate_requeues_it_then_delete_removes_it(
    context: BrowserContext, tabs: list[Tab], server: Dashboard
) -> None:
    tab = open_tab(context, tabs, server)
    job = server.submit("narration", {"text": "Once upon a time, by the sea."})
    card = tab.in_state(job["id"], "failed")
    expect(card.locator(".job-status")).to_have_text(
        "Sorry, your narration could not be made. The AI service it relies on is having "
        "trouble right now. Please try again in a few minutes."
    )
    expect(card.get_by_role("button")).to_have_text(["Regenerate", "Delete"])
    card.locator("summary").click()
    expect(card.locator("details")).to_contain_text("503 Service Unavailable")
    tab.shot("failed.png")

    server.release(job["id"])
    card.get_by_role("button", name="Regenerate").click()
    tab.in_state(job["id"], "succeeded")
    assert {"queued", "running"} & set(tab.states(job["id"]))
    expect(card.locator(".result audio")).to_have_count(1)

    card.get_by_role("button", name="Delete").click()
    card.get_by_role("button", name="Delete for good?").click()
    expect(card).to_have_count(0)
    gone = httpx.get(f"{server.url}/v1/jobs/{job['id']}", headers=server.auth)
    assert gone.status_code == 404


def test_cancel_a_running_paid_job_and_its_credit_comes_back(
    context: BrowserContext, tabs: list[Tab], server: Dashboard
) -> None:
    tab = open_tab(context, tabs, server)
    credits = tab.page.locator("#credits")
    start = server.credits()["available"]
    expect(credits).to_have_text(f"{start:g} credits")
    job = server.submit("chapter", {"journal_entry": ENTRY})
    card = tab.in_state(job["id"], "running")
    expect(credits).to_have_text(f"{start - 1:g} credits")  # charged when it started
    assert server.credits()["balance"] == start - 1

    card.get_by_role("button", name="Cancel").click()
    tab.in_state(job["id"], "canceled")
    expect(card.get_by_role("button")).to_have_text(["Retry", "Delete"])
    expect(card.locator(".job-status")).to_have_text("Canceled.")
    expect(card.locator(".partial")).to_have_count(0)
    expect(credits).to_have_text(f"{start:g} credits")  # refunded
    tab.shot("canceled.png")


def test_reload_mid_job_and_the_card_carries_on_live(
    context: BrowserContext, tabs: list[Tab], server: Dashboard
) -> None:
    tab = open_tab(context, tabs, server)
    job = server.submit("chapter", {"journal_entry": ENTRY}, scope="novel:42")
    tab.in_state(job["id"], "running")
    tab.page.reload()  # signed in from this browser's storage: no fragment this time
    tab.record()
    card = tab.in_state(job["id"], "running")
    expect(card.locator(".partial")).to_contain_text("A quiet morning")
    expect(tab.page.locator(".group[data-scope='novel:42'] h3")).to_have_text("novel:42")
    server.release(job["id"])
    tab.in_state(job["id"], "succeeded")
    expect(card.locator(".result h4")).to_have_text("The Letter by the Sea")


def test_two_tabs_see_the_same_changes(
    context: BrowserContext, tabs: list[Tab], server: Dashboard
) -> None:
    first = open_tab(context, tabs, server)
    second = open_tab(context, tabs, server, token=False)  # signed in by the first
    job = server.submit("chapter", {"journal_entry": ENTRY})
    first.in_state(job["id"], "running")
    second.in_state(job["id"], "running")
    first.card(job["id"]).get_by_role("button", name="Cancel").click()
    second.in_state(job["id"], "canceled")
    second.card(job["id"]).get_by_role("button", name="Retry").click()
    first.in_state(job["id"], "running")
    first.card(job["id"]).get_by_role("button", name="Cancel").click()
    second.in_state(job["id"], "canceled")
    second.card(job["id"]).get_by_role("button", name="Delete").click()
    second.card(job["id"]).get_by_role("button", name="Delete for good?").click()
    expect(first.card(job["id"])).to_have_count(0)


def test_a_jobs_own_page_shows_that_card_alone(
    context: BrowserContext, tabs: list[Tab], server: Dashboard
) -> None:
    shown = server.submit("narration", {"text": "Just this one."})
    server.submit("narration", {"text": "Not this one."})
    tab = open_tab(context, tabs, server)
    card = tab.in_state(shown["id"], "failed")
    card.get_by_role("link", name="Narration").click()
    expect(tab.page).to_have_url(re.compile(rf"/ui\?job={shown['id']}$"))
    expect(tab.page.locator("article.job")).to_have_count(1)
    expect(tab.card(shown["id"])).to_be_visible()
    expect(tab.page.locator("form.job-form")).to_have_count(0)
    expect(tab.page.get_by_role("link", name="← All jobs")).to_be_visible()


def test_on_a_phone_nothing_overflows_and_the_buttons_are_reachable_by_keyboard(
    context: BrowserContext, tabs: list[Tab], server: Dashboard
) -> None:
    failed = server.submit("narration", {"text": "A long text " * 30})
    running = server.submit("chapter", {"journal_entry": ENTRY})
    tab = open_tab(context, tabs, server)
    tab.page.set_viewport_size({"width": 390, "height": 844})
    tab.in_state(failed["id"], "failed")
    tab.in_state(running["id"], "running")
    assert tab.page.evaluate("document.documentElement.scrollWidth") <= 390
    cancel = tab.card(running["id"]).get_by_role("button", name="Cancel")
    for _ in range(40):  # Tab through the page until the card's button has the focus
        tab.page.keyboard.press("Tab")
        if cancel.evaluate("(button) => button === document.activeElement"):
            break
    expect(cancel).to_be_focused()
    tab.shot("phone.png")
    tab.page.keyboard.press("Enter")
    tab.in_state(running["id"], "canceled")
    expect(tab.card(running["id"]).get_by_role("button", name="Retry")).to_be_focused()


def test_signing_in_with_a_key_keeps_only_a_browser_token(
    context: BrowserContext, tabs: list[Tab], server: Dashboard
) -> None:
    key = server.auth["Authorization"].removeprefix("Bearer ")
    tab = new_tab(context, tabs)
    page = tab.page
    page.goto(f"{server.url}/ui")
    page.get_by_label("Browser token or API key").fill("bb_not_a_real_key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".signin .problem")).to_have_text(
        "That token or key is not valid (or has expired)."
    )
    assert tab.errors and all("401" in e for e in tab.errors)  # Chromium logs the refusal
    tab.errors.clear()
    page.goto("about:blank")  # a new load: from /ui, only the fragment would change
    page.goto(f"{server.url}/ui#key={key}")
    expect(page.locator("#signout")).to_be_visible()
    assert page.evaluate("location.hash") == ""  # out of the address bar
    kept = page.evaluate("localStorage.getItem('backburner.dashboard.user')")
    assert kept.startswith("bbt_") and key not in kept
    page.locator("#signout").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert page.evaluate("localStorage.getItem('backburner.dashboard.user')") is None

    page.goto("about:blank")  # a token that no longer works: sign in again, and why
    page.goto(f"{server.url}/ui#token=bbt_expired")
    expect(page.locator(".signin .problem")).to_have_text(
        "Your sign-in has expired. Please sign in again."
    )
    assert tab.errors and all("401" in e for e in tab.errors)
    tab.errors.clear()
