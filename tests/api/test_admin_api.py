"""The operator's endpoints over HTTP: the overview, bulk retry of failed jobs, a job's
event log as JSON; who may use them, and bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import backburner as bb
from tests.api.conftest import Keys
from tests.api.test_jobs_api import assert_problem
from tests.conftest import wait_status


@pytest.fixture
def failing(app: bb.Backburner, client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The client, with a kind that always fails (and one that fails only while told to)."""

    @app.task(attempts=1)
    async def broken(ctx: bb.Context, data: dict[str, Any]) -> None:
        raise bb.Fail("the provider said no")

    return client


async def submit(client: httpx.AsyncClient, keys: Keys, kind: str, **extra: Any) -> str:
    body = {"kind": kind, "input": extra.pop("input", {"prompt": "a cat"}), **extra}
    sent = await client.post("/v1/jobs", json=body, headers=keys.alice)
    assert sent.status_code == 202, sent.text
    return str(sent.json()["id"])


async def test_the_overview_shows_queue_running_workers_and_the_last_hour(
    app: bb.Backburner, failing: httpx.AsyncClient, keys: Keys
) -> None:
    async with app.worker() as worker:
        slow = await submit(failing, keys, "slow", input={"seconds": 30})
        await wait_status(app, slow, "running")
        done = await submit(failing, keys, "story")
        failed = await submit(failing, keys, "broken", input={})
        await wait_status(app, done, "succeeded")
        await wait_status(app, failed, "failed")
        answer = await failing.get("/v1/admin/overview", headers=keys.admin)
        await app.cancel(slow)
        await wait_status(app, slow, "canceled")
        after = (await failing.get("/v1/admin/overview", headers=keys.admin)).json()
    assert answer.status_code == 200, answer.text
    overview = answer.json()
    assert {"kind": "slow", "status": "running", "count": 1} in overview["queue"]
    assert {"kind": "broken", "status": "failed", "count": 1} in overview["queue"]
    [running] = overview["running"]
    assert (running["id"], running["kind"], running["owner"]) == (slow, "slow", "alice")
    assert running["worker_id"] == worker.id and running["started_at"]
    assert 0 < running["lease_left_s"] <= app.settings.lease_s and running["lease_expires_at"]
    [me] = [w for w in overview["workers"] if w["id"] == worker.id]
    assert me["alive"] and me["stopped_at"] is None and me["concurrency"] == worker.concurrency
    assert {"story", "slow", "broken"} <= set(me["kinds"])
    minutes = overview["throughput"]
    assert len(minutes) == 60 and minutes == sorted(minutes, key=lambda m: m["minute"])
    assert overview["totals"] == {"succeeded": 1, "failed": 1, "canceled": 0, "failure_rate": 0.5}
    assert sum(m["succeeded"] + m["failed"] for m in minutes) == 2
    assert after["running"] == [] and after["totals"]["canceled"] == 1
    stopped = (await failing.get("/v1/admin/overview", headers=keys.admin)).json()["workers"]
    assert [(w["alive"], bool(w["stopped_at"])) for w in stopped] == [(False, True)]


async def test_retry_failed_requeues_a_kinds_failed_jobs_under_the_same_ids(
    app: bb.Backburner, failing: httpx.AsyncClient, keys: Keys
) -> None:
    ids = [await submit(failing, keys, "broken", input={"n": n}) for n in range(3)]
    taken = await submit(failing, keys, "broken", input={}, dedupe_key="d")
    await submit(failing, keys, "story")
    await app.worker(burst=True).run()
    again = await submit(failing, keys, "broken", input={}, dedupe_key="d")  # d is active again
    first = await failing.post(
        "/v1/admin/retry-failed", json={"kind": "broken", "limit": 2}, headers=keys.admin
    )
    assert first.status_code == 200, first.text
    assert first.json() == {"kind": "broken", "retried": ids[:2], "count": 2, "skipped": []}
    for job_id in ids[:2]:
        job = await app.get(job_id)
        assert (job.status, job.attempt, job.input) == (
            bb.JobStatus.QUEUED,
            0,
            {"n": ids.index(job_id)},
        )
    rest = await failing.post("/v1/admin/retry-failed", json={"kind": "broken"}, headers=keys.admin)
    report = rest.json()
    assert (report["retried"], report["count"]) == ([ids[2]], 1)
    [skipped] = report["skipped"]  # the per-job retry's rules hold: its dedupe key is taken
    assert skipped["id"] == taken and "dedupe key" in skipped["detail"]
    assert (await app.get(taken)).status is bb.JobStatus.FAILED
    assert (await app.get(again)).status is bb.JobStatus.QUEUED
    none = await failing.post("/v1/admin/retry-failed", json={"kind": "story"}, headers=keys.admin)
    assert none.json() == {"kind": "story", "retried": [], "count": 0, "skipped": []}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/admin/overview", None),
        ("POST", "/v1/admin/retry-failed", {"kind": "broken"}),
    ],
)
async def test_only_admin_keys_may_use_the_operator_endpoints(
    failing: httpx.AsyncClient, keys: Keys, method: str, path: str, body: Any
) -> None:
    nobody = await failing.request(method, path, json=body)
    assert_problem(nobody, 401, "API key")
    assert nobody.headers["www-authenticate"] == "Bearer"
    assert_problem(await failing.request(method, path, json=body, headers=keys.alice), 403, "admin")
    token = (await failing.post("/v1/tokens", json={}, headers=keys.alice)).json()["token"]
    as_token = {"Authorization": f"Bearer {token}"}
    assert_problem(await failing.request(method, path, json=body, headers=as_token), 403, "admin")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"kind": "nope"}, "kind: unknown kind 'nope' (known: "),
        ({}, "body.kind: Field required"),
        ({"kind": ""}, "body.kind: String should have at least 1 character"),
        ({"kind": "broken", "limit": 0}, "body.limit: Input should be greater than or equal to 1"),
        ({"kind": "broken", "limit": 1001}, "body.limit"),
        ({"kind": "broken", "limit": "all"}, "body.limit"),
        ({"kind": "broken", "status": "failed"}, "body.status: Extra inputs are not permitted"),
        ([], "body"),
    ],
)
async def test_bad_retry_bodies_say_which_field_and_retry_nothing(
    app: bb.Backburner, failing: httpx.AsyncClient, keys: Keys, body: Any, detail: str
) -> None:
    failed = await submit(failing, keys, "broken", input={})
    await app.worker(burst=True).run()
    answer = await failing.post("/v1/admin/retry-failed", json=body, headers=keys.admin)
    assert_problem(answer, 422, detail)
    assert (await app.get(failed)).status is bb.JobStatus.FAILED


async def test_a_malformed_retry_body_is_400(failing: httpx.AsyncClient, keys: Keys) -> None:
    headers = {**keys.admin, "Content-Type": "application/json"}
    doubled = b'{"kind": "broken", "kind": "story"}'
    answer = await failing.post("/v1/admin/retry-failed", content=doubled, headers=headers)
    assert_problem(answer, 400, "duplicate key 'kind'")


async def test_overview_limits_are_checked(failing: httpx.AsyncClient, keys: Keys) -> None:
    answer = await failing.get("/v1/admin/overview?running_limit=0", headers=keys.admin)
    assert_problem(answer, 422, "running_limit")


async def test_a_jobs_log_is_its_whole_event_log_for_its_owner_and_admins(
    app: bb.Backburner, failing: httpx.AsyncClient, keys: Keys
) -> None:
    job_id = await submit(failing, keys, "story")
    await app.worker(burst=True).run()
    mine = await failing.get(f"/v1/jobs/{job_id}/log", headers=keys.alice)
    assert mine.status_code == 200, mine.text
    events = mine.json()["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["data"]["status"] for e in events if e["type"] == "status"] == [
        "queued",
        "running",
        "succeeded",
    ]
    assert {"job_id", "seq", "type", "data", "created_at"} <= set(events[0])
    assert (await failing.get(f"/v1/jobs/{job_id}/log", headers=keys.admin)).json() == mine.json()
    assert_problem(await failing.get(f"/v1/jobs/{job_id}/log", headers=keys.bob), 404, job_id)
    unknown = "00000000-0000-0000-0000-000000000000"
    assert_problem(await failing.get(f"/v1/jobs/{unknown}/log", headers=keys.admin), 404, unknown)
    assert_problem(await failing.get(f"/v1/jobs/{job_id}/log"), 401, "API key")


async def test_a_scoped_token_reads_only_its_scopes_logs(
    failing: httpx.AsyncClient, keys: Keys
) -> None:
    inside = await submit(failing, keys, "story", scope="a")
    outside = await submit(failing, keys, "story", scope="b")
    minted = await failing.post("/v1/tokens", json={"scope": "a"}, headers=keys.alice)
    token = {"Authorization": f"Bearer {minted.json()['token']}"}
    assert (await failing.get(f"/v1/jobs/{inside}/log", headers=token)).status_code == 200
    assert_problem(await failing.get(f"/v1/jobs/{outside}/log", headers=token), 404, outside)


async def test_the_python_api_gives_the_same_overview(
    app: bb.Backburner, failing: httpx.AsyncClient, keys: Keys
) -> None:
    await submit(failing, keys, "broken", input={})
    await submit(failing, keys, "story")
    overview = await app.operations.overview()
    assert [(c.kind, c.status, c.count) for c in overview.queue] == [
        ("broken", "queued", 1),
        ("story", "queued", 1),
    ]
    assert overview.totals.failure_rate is None and overview.running == []
    with pytest.raises(bb.InvalidInput, match="limit: must be a whole number"):
        await app.operations.retry_failed("broken", limit=0)
    with pytest.raises(bb.InvalidInput, match="kind: unknown kind 'nope'"):
        await app.operations.retry_failed("nope")
