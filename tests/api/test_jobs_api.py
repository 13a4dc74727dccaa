"""The jobs API in-process: status codes, owner isolation, waits, idempotency, problems."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

import backburner as bb
from tests.api.conftest import Keys
from tests.conftest import count_rows, wait_status


def rows(app: bb.Backburner) -> int:
    return count_rows(app.settings.database_url)


def assert_problem(response: httpx.Response, status: int, detail_part: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["type"].startswith("/problems/")
    assert detail_part in body["detail"], body
    return body


async def test_submit_returns_202_as_the_keys_owner(client: httpx.AsyncClient, keys: Keys) -> None:
    response = await client.post(
        "/v1/jobs", json={"kind": "story", "input": {"prompt": "a cat"}}, headers=keys.alice
    )
    assert response.status_code == 202
    job = response.json()
    assert (job["owner"], job["status"], job["input"]) == ("alice", "queued", {"prompt": "a cat"})


async def test_prefer_wait_returns_the_finished_job(
    app: bb.Backburner, client: httpx.AsyncClient, keys: Keys
) -> None:
    async with app.worker():
        response = await client.post(
            "/v1/jobs",
            json={"kind": "story", "input": {"prompt": "a dog"}},
            headers={**keys.alice, "Prefer": "wait=10"},
        )
    assert response.status_code == 200
    assert response.json()["output"] == {"text": "A DOG"}


async def test_prefer_wait_that_runs_out_answers_202(client: httpx.AsyncClient, keys: Keys) -> None:
    response = await client.post(
        "/v1/jobs", json={"kind": "slow", "input": {}}, headers={**keys.alice, "Prefer": "wait=1"}
    )
    assert response.status_code == 202 and response.json()["status"] == "queued"


async def test_idempotency_key_returns_the_same_job(
    app: bb.Backburner, client: httpx.AsyncClient, keys: Keys
) -> None:
    body = {"kind": "story", "input": {"prompt": "once"}}
    headers = {**keys.alice, "Idempotency-Key": "req-1"}
    first = (await client.post("/v1/jobs", json=body, headers=headers)).json()
    second = (await client.post("/v1/jobs", json=body, headers=headers)).json()
    assert second["id"] == first["id"] and second["deduplicated"]
    bobs = (
        await client.post("/v1/jobs", json=body, headers={**keys.bob, "Idempotency-Key": "req-1"})
    ).json()
    assert bobs["id"] != first["id"]  # keys are per owner
    assert rows(app) == 2


async def test_another_owners_job_answers_exactly_like_a_missing_one(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    job = (
        await client.post(
            "/v1/jobs", json={"kind": "story", "input": {"prompt": "mine"}}, headers=keys.alice
        )
    ).json()
    for method, path in [
        ("GET", f"/v1/jobs/{job['id']}"),
        ("POST", f"/v1/jobs/{job['id']}/cancel"),
        ("POST", f"/v1/jobs/{job['id']}/retry"),
        ("DELETE", f"/v1/jobs/{job['id']}"),
    ]:
        theirs = await client.request(method, path, headers=keys.bob)
        missing = await client.request(method, path.replace(job["id"], "nope"), headers=keys.bob)
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json()["title"] == missing.json()["title"]
    assert (await client.get(f"/v1/jobs/{job['id']}", headers=keys.admin)).status_code == 200
    mine = await client.get("/v1/jobs", headers=keys.bob)
    assert mine.json()["jobs"] == []
    batch = await client.post("/v1/jobs/batch", json={"ids": [job["id"]]}, headers=keys.bob)
    assert batch.json()["jobs"] == []
    batch = await client.post("/v1/jobs/batch", json={"ids": [job["id"]]}, headers=keys.alice)
    assert [j["id"] for j in batch.json()["jobs"]] == [job["id"]]


async def test_list_filters_and_admin_owner_filter(client: httpx.AsyncClient, keys: Keys) -> None:
    for prompt, scope in [("one", "novel:1"), ("two", "novel:2"), ("three", "novel:1")]:
        await client.post(
            "/v1/jobs",
            json={"kind": "story", "input": {"prompt": prompt}, "scope": scope},
            headers=keys.alice,
        )
    listed = (await client.get("/v1/jobs?scope=novel:1&active=true", headers=keys.alice)).json()
    assert [j["input"]["prompt"] for j in listed["jobs"]] == ["three", "one"]
    page = (await client.get("/v1/jobs?limit=2", headers=keys.alice)).json()
    rest = (
        await client.get(f"/v1/jobs?limit=2&cursor={page['next_cursor']}", headers=keys.alice)
    ).json()
    assert len(page["jobs"]) == 2 and len(rest["jobs"]) == 1 and rest["next_cursor"] is None
    assert_problem(await client.get("/v1/jobs?owner=alice", headers=keys.bob), 403, "admin")
    by_admin = (await client.get("/v1/jobs?owner=alice", headers=keys.admin)).json()
    assert len(by_admin["jobs"]) == 3


async def test_cancel_retry_delete_and_their_conflicts(
    app: bb.Backburner, client: httpx.AsyncClient, keys: Keys
) -> None:
    job = (
        await client.post(
            "/v1/jobs", json={"kind": "story", "input": {"prompt": "bye"}}, headers=keys.alice
        )
    ).json()
    assert_problem(
        await client.post(f"/v1/jobs/{job['id']}/retry", headers=keys.alice), 409, "queued"
    )
    canceled = await client.post(f"/v1/jobs/{job['id']}/cancel", headers=keys.alice)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert_problem(
        await client.post(f"/v1/jobs/{job['id']}/cancel", headers=keys.alice),
        409,
        "already canceled",
    )
    retried = await client.post(f"/v1/jobs/{job['id']}/retry", headers=keys.alice)
    assert retried.status_code == 202 and retried.json()["id"] == job["id"]
    assert (await client.delete(f"/v1/jobs/{job['id']}", headers=keys.alice)).status_code == 204
    assert_problem(await client.get(f"/v1/jobs/{job['id']}", headers=keys.alice), 404, "no job")
    assert rows(app) == 0


async def test_long_poll_returns_when_the_status_changes(
    app: bb.Backburner, client: httpx.AsyncClient, keys: Keys
) -> None:
    job = (
        await client.post(
            "/v1/jobs", json={"kind": "story", "input": {"prompt": "poll"}}, headers=keys.alice
        )
    ).json()
    async with app.worker():
        seen = (await client.get(f"/v1/jobs/{job['id']}?wait=10", headers=keys.alice)).json()
    assert seen["status"] in {"running", "succeeded"}


async def test_kinds_health_and_readiness(client: httpx.AsyncClient, keys: Keys) -> None:
    kinds = (await client.get("/v1/kinds", headers=keys.alice)).json()["kinds"]
    story = next(k for k in kinds if k["name"] == "story")
    assert story["input_schema"]["properties"]["prompt"]["minLength"] == 3
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}


async def test_a_long_poll_that_runs_out_answers_with_the_latest_progress(
    app: bb.Backburner, client: httpx.AsyncClient, keys: Keys
) -> None:
    go, reported = asyncio.Event(), asyncio.Event()

    @app.task(attempts=1)
    async def gated(ctx: bb.Context, data: dict[str, Any]) -> None:
        await go.wait()
        await ctx.progress(0.5, "Halfway")
        reported.set()
        await asyncio.sleep(30)

    submitted = await client.post(
        "/v1/jobs", json={"kind": "gated", "input": {}}, headers=keys.alice
    )
    job_id = submitted.json()["id"]
    async with app.worker():
        await wait_status(app, job_id, "running")
        poll = asyncio.ensure_future(client.get(f"/v1/jobs/{job_id}?wait=2", headers=keys.alice))
        await asyncio.sleep(0.3)  # the poll is held, then the handler reports progress
        go.set()
        await asyncio.wait_for(reported.wait(), 10)
        seen = (await poll).json()
        await app.cancel(job_id)
    assert (seen["status"], seen["progress"], seen["message"]) == ("running", 0.5, "Halfway")
