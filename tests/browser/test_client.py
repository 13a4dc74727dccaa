"""`/static/backburner.js` in Chromium: submit, watch over SSE, resume after a reload, the
polling fallback, and problem+json errors — against a real `backburner serve`."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from .conftest import BrowserPage, Server

pytestmark = pytest.mark.slow  # a real server process, and a browser

#: Submit a `scenes` job and watch it to the end; every job the watch reported comes back.
SUBMIT_AND_WATCH = """async ({token, count}) => {
  const {Backburner} = window.backburner;
  const bb = new Backburner({token, pollWait: 1});
  const submitted = await bb.submit("scenes", {count, seconds: 0.25});
  const seen = [];
  const handle = bb.watch(submitted.id, (job) => seen.push(job));
  const final = await handle.done;
  return {submitted, seen, final};
}"""


def statuses(seen: list[dict[str, Any]]) -> list[str]:
    """The statuses in the order reported, repeats folded."""
    folded: list[str] = []
    for job in seen:
        if not folded or folded[-1] != job["status"]:
            folded.append(job["status"])
    return folded


def test_the_module_is_served_as_javascript(server: Server) -> None:
    for path in ("/static/backburner.js", "/static/backburner/live.js"):
        served = httpx.get(f"{server.url}{path}", timeout=10)
        assert served.status_code == 200, path
        assert served.headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{server.url}/static/nothing.js", timeout=10).status_code == 404


def test_submit_and_watch_sees_progress_partials_and_the_finished_job(
    test_page: BrowserPage, server: Server
) -> None:
    token = server.token()
    result = test_page.page.evaluate(SUBMIT_AND_WATCH, {"token": token, "count": 3})
    submitted, seen, final = result["submitted"], result["seen"], result["final"]
    assert submitted["status"] == "queued"
    assert final["status"] == "succeeded"
    assert final["output"] == {"scenes": 3}
    assert seen[-1] == final
    assert statuses(seen)[-2:] == ["running", "succeeded"]
    messages = [job["message"] for job in seen if job["status"] == "running" and job["message"]]
    # Live progress arrives while the job runs, in order; updates that land together may be
    # reported once (the client reports states, not every event), so not every one is seen.
    assert messages and messages == sorted(messages)
    assert set(messages) <= {f"Rendering scene {n}/3…" for n in (1, 2, 3)}
    fractions = [job["progress"] for job in seen if job["progress"] is not None]
    assert fractions == sorted(fractions)
    assert any(job["status"] == "running" and job["partial"] for job in seen)  # while running
    assert final["partial"] == {f"scene-{n}": f"scene {n} done" for n in (1, 2, 3)}
    events = test_page.paths(f"/v1/jobs/{final['id']}/events")
    assert len(events) == 1  # one EventSource, closed after the terminal event
    assert "access_token=bbt_" in events[0]
    assert test_page.paths("wait=") == []  # streamed, not polled
    again = test_page.page.evaluate(
        """async ({token, id}) => {
          const bb = new window.backburner.Backburner({token});
          const seen = [];
          const final = await bb.watch(id, (job) => seen.push(job)).done;
          return {seen, final};
        }""",
        {"token": token, "id": final["id"]},
    )
    assert again["seen"] == [again["final"]] and again["final"]["status"] == "succeeded"


def test_cancel_retry_list_and_delete_from_the_page(test_page: BrowserPage, server: Server) -> None:
    test_page.expected_errors.append("status of 404")  # the read after the delete
    result = test_page.page.evaluate(
        """async ({token}) => {
          const {Backburner, isFinished} = window.backburner;
          const bb = new Backburner({token});
          const job = await bb.submit("scenes", {count: 5, seconds: 1}, {scope: "crud"});
          const seen = [];
          const watched = bb.watch(job.id, (j) => seen.push(j.status));
          await bb.cancel(job.id);
          const canceled = await watched.done;
          const retried = await bb.retry(job.id);
          const listed = await bb.list({scope: "crud", active: true});
          const many = await bb.getMany([job.id, "00000000-0000-4000-8000-000000000000"]);
          await bb.delete(job.id);
          const gone = await bb.get(job.id).then(() => 200, (e) => e.status);
          const kinds = (await bb.kinds()).map((kind) => kind.name);
          const finished = isFinished(canceled);
          return {seen, canceled, retried, listed, many, gone, kinds, finished};
        }""",
        {"token": server.token()},
    )
    assert result["canceled"]["status"] == "canceled" and result["finished"]
    assert result["seen"][-1] == "canceled"
    assert result["retried"]["status"] == "queued"
    assert result["retried"]["id"] == result["canceled"]["id"]
    assert [job["id"] for job in result["listed"]["jobs"]] == [result["canceled"]["id"]]
    assert result["listed"]["next_cursor"] is None
    assert [job["id"] for job in result["many"]] == [result["canceled"]["id"]]
    assert result["gone"] == 404
    assert "scenes" in result["kinds"]


def test_resume_after_a_reload_follows_the_scopes_running_jobs_over_one_connection(
    test_page: BrowserPage, server: Server
) -> None:
    scope, token = "novel:42", server.token("novel:42")
    old = server.submit("scenes", {"count": 1, "seconds": 0}, scope=scope, wait=10)
    assert old["status"] == "succeeded"
    elsewhere = server.submit("scenes", {"count": 3, "seconds": 0.4}, scope="novel:7")
    running = test_page.page.evaluate(
        """async ({token}) => {
          const bb = new window.backburner.Backburner({token});
          const a = await bb.submit("scenes", {count: 4, seconds: 0.5});  // into the token's scope
          const b = await bb.submit("scenes", {count: 2, seconds: 1});
          return [a.id, b.id];
        }""",
        {"token": token},
    )
    test_page.reload()
    before = len(test_page.requests)
    listed = test_page.page.evaluate(
        """async ({token, scope}) => {
          const bb = new window.backburner.Backburner({token, clockMargin: 0});
          window.seen = [];
          window.handle = bb.resume(scope, (job) => window.seen.push(job));
          return (await window.handle.ready).map((job) => job.id);
        }""",
        {"token": token, "scope": scope},
    )
    assert sorted(listed) == sorted(running)
    later = server.submit("scenes", {"count": 2, "seconds": 0.2}, scope=scope)["id"]
    test_page.page.wait_for_function(
        """(ids) => ids.every((id) =>
             window.seen.some((job) => job.id === id && job.status === "succeeded"))""",
        arg=[*running, later],
    )
    seen = test_page.page.evaluate("window.seen")
    assert {job["id"] for job in seen} == {*running, later}  # not the other scope's job
    assert elsewhere["id"] not in {job["id"] for job in seen}
    # history skipped: the old job finished before the listed jobs' last changes
    assert not [u for u in test_page.requests[before:] if old["id"] in u]
    for job_id in running:
        mine = [job for job in seen if job["id"] == job_id]
        assert mine[0]["status"] in ("queued", "running")  # the listing, at once
        assert statuses(mine)[-1] == "succeeded"
        assert any(job["message"] and "scene" in job["message"] for job in mine[:-1])
        fractions = [job["progress"] or 0 for job in mine]
        assert fractions == sorted(fractions)  # replayed history never moves a bar back
    finished = next(job for job in reversed(seen) if job["id"] == later)
    assert finished["output"] == {"scenes": 2}
    after_reload = test_page.requests[before:]
    assert len([u for u in after_reload if "/v1/events?" in u]) == 1  # one connection
    assert not [u for u in after_reload if re.search(r"/v1/jobs/[^/?]+/events", u)]
    # closed: nothing more is reported
    test_page.page.evaluate("window.handle.close()")
    server.submit("scenes", {"count": 1, "seconds": 0}, scope=scope, wait=10)
    test_page.page.wait_for_timeout(300)
    assert len(test_page.page.evaluate("window.seen")) == len(seen)


def test_without_a_stream_watch_and_resume_fall_back_to_polling(
    test_page: BrowserPage, server: Server
) -> None:
    test_page.page.evaluate("delete window.EventSource")
    check_polling(test_page, server.token(), "polled-a")


def test_with_an_api_key_the_client_polls_and_never_puts_the_key_in_a_url(
    test_page: BrowserPage, server: Server
) -> None:
    key = server.auth["Authorization"].removeprefix("Bearer ")
    check_polling(test_page, key, "polled-b")
    assert not test_page.paths("access_token")


def check_polling(test_page: BrowserPage, token: str, scope: str) -> None:
    """watch() and resume() without EventSource reach every job's final state."""
    result = test_page.page.evaluate(
        """async ({token, scope}) => {
          const {Backburner, isFinished} = window.backburner;
          const bb = new Backburner({token, pollWait: 1, pollInterval: 0.2});
          const resumed = [];
          const scoped = bb.resume(scope, (job) => resumed.push(job));
          await scoped.ready;
          const submitted = await bb.submit("scenes", {count: 3, seconds: 0.4}, {scope});
          const seen = [];
          const final = await bb.watch(submitted.id, (job) => seen.push(job)).done;
          for (let i = 0; i < 50 && !resumed.some(isFinished); i++) {
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
          scoped.close();
          return {seen, final, resumed};
        }""",
        {"token": token, "scope": scope},
    )
    final = result["final"]
    assert final["status"] == "succeeded"
    assert final["output"] == {"scenes": 3}
    assert result["seen"][-1] == final
    assert any(job["status"] == "running" and job["progress"] for job in result["seen"])
    assert [job["id"] for job in result["resumed"]][-1] == final["id"]
    assert result["resumed"][-1]["status"] == "succeeded"
    assert test_page.paths(f"/v1/jobs/{final['id']}?wait=1")  # long-polls
    assert test_page.paths("/v1/jobs/batch")  # resume read the job that left the active list
    assert not test_page.paths("events")


def test_a_problem_answer_rejects_with_its_status_type_and_field_paths(
    test_page: BrowserPage, server: Server
) -> None:
    test_page.expected_errors += ["status of 422", "status of 404"]  # network log lines
    result = test_page.page.evaluate(
        """async ({token, missing}) => {
          const {Backburner, BackburnerError} = window.backburner;
          const bb = new Backburner({token});
          const caught = (promise) => promise.then(() => null, (e) => ({
            isError: e instanceof BackburnerError && e instanceof Error, name: e.name,
            status: e.status, type: e.type, title: e.title, detail: e.detail,
            errors: e.errors, message: e.message}));
          const invalid = await caught(bb.submit("scenes", {count: 0, colour: "red"}));
          const notFound = await caught(bb.get(missing));
          const watched = await new Promise((resolve) => {
            bb.watch(missing, () => resolve("changed"), {onError: resolve});  // done: not awaited
          });
          return {invalid, notFound, watched: {status: watched.status, type: watched.type}};
        }""",
        {"token": server.token(), "missing": "00000000-0000-4000-8000-000000000000"},
    )
    invalid = result["invalid"]
    assert invalid["isError"] and invalid["name"] == "BackburnerError"
    assert invalid["status"] == 422
    assert invalid["type"] == "/problems/invalid-input"
    assert invalid["title"] == "Invalid input"
    assert invalid["message"] == invalid["detail"] and "count" in invalid["detail"]
    assert sorted(e["field"] for e in invalid["errors"]) == ["colour", "count"]
    assert all(e["message"] for e in invalid["errors"])
    assert result["notFound"]["status"] == 404
    assert result["notFound"]["type"] == "/problems/not-found"
    assert result["watched"] == {"status": 404, "type": "/problems/not-found"}
