"""``GET /v1/events`` without a scope: every job of the caller over one connection (the
dashboard's one stream), over uvicorn on a loopback port in this event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import backburner as bb
from backburner.storage import queries

from ..conftest import direct_engine
from .conftest import Keys
from .test_events import STEP_TIMEOUT_S, frames, serving_in_loop, take


@pytest.fixture
async def gate() -> asyncio.Event:
    """Gated jobs wait for this before they return."""
    return asyncio.Event()


@pytest.fixture
async def http(app: bb.Backburner, gate: asyncio.Event) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the API (with a worker) served by uvicorn on a free loopback port."""

    @app.task(attempts=1)
    async def draft(ctx: bb.Context, data: dict[str, Any]) -> dict[str, Any]:
        await ctx.progress(0.5, "Halfway…")
        if data.get("gated"):
            await gate.wait()
        return {"text": "Once upon a time"}

    async with serving_in_loop(app, gate) as (url, _server):
        async with httpx.AsyncClient(base_url=url, timeout=STEP_TIMEOUT_S) as client:
            yield client


async def submit(
    http: httpx.AsyncClient, auth: dict[str, str], scope: str | None, gated: bool = False
) -> str:
    body = {"kind": "draft", "input": {"gated": gated}, "scope": scope}
    made = await http.post("/v1/jobs", json=body, headers=auth)
    assert made.status_code == 202, made.text
    return str(made.json()["id"])


async def finished(app: bb.Backburner, *job_ids: str) -> None:
    for job_id in job_ids:
        await app.wait(job_id, timeout=STEP_TIMEOUT_S)


async def test_without_a_scope_the_stream_carries_every_job_of_the_caller(
    app: bb.Backburner, http: httpx.AsyncClient, keys: Keys, gate: asyncio.Event
) -> None:
    bobs = await submit(http, keys.bob, scope=None)
    scoped = await submit(http, keys.alice, scope="novel:1")
    await finished(app, bobs, scoped)
    unscoped = await submit(http, keys.alice, scope=None, gated=True)
    async with http.stream("GET", "/v1/events", headers=keys.alice) as r:
        assert r.status_code == 200
        stream = frames(r)
        taken = await take(stream, 7)  # the scoped job's 4, the gated one's first 3
        later = await submit(http, keys.alice, scope="show:7")  # a job started later, live
        taken += await take(stream, 1)
        gate.set()
        taken += await take(stream, 4)  # the gated one's success, the later one's 3
    assert {f["data"]["job_id"] for f in taken} == {scoped, unscoped, later}  # never bob's
    ids = [f["id"] for f in taken]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [f["data"]["seq"] for f in taken if f["data"]["job_id"] == scoped] == [1, 2, 3, 4]
    assert [f["data"]["seq"] for f in taken if f["data"]["job_id"] == unscoped] == [1, 2, 3, 4]

    resumed = {**keys.alice, "Last-Event-ID": str(ids[5])}
    async with http.stream("GET", "/v1/events", headers=resumed) as r:
        assert [f["id"] for f in await take(frames(r), 6)] == ids[6:]


async def test_after_latest_starts_from_now_with_a_ready_frame_naming_the_point(
    app: bb.Backburner, http: httpx.AsyncClient, keys: Keys
) -> None:
    old = await submit(http, keys.alice, scope=None)
    await finished(app, old)
    newest = (await app.scope_events("alice", None))[-1][0]
    tail = {"after": "latest"}
    async with http.stream("GET", "/v1/events", params=tail, headers=keys.alice) as r:
        assert r.status_code == 200
        stream = frames(r)
        ready = await take(stream, 1)
        assert ready == [{"id": newest, "event": "ready", "data": {"after": newest}}]
        new = await submit(http, keys.alice, scope="novel:1")
        taken = await take(stream, 4)  # none of the old job's history, all of the new one's
    assert {f["data"]["job_id"] for f in taken} == {new}
    assert all(f["id"] > newest for f in taken)
    # a reconnect's Last-Event-ID wins over `latest`: no ready frame, the events after it
    resumed = {**keys.alice, "Last-Event-ID": str(taken[1]["id"])}
    async with http.stream("GET", "/v1/events", params=tail, headers=resumed) as r:
        assert [f["id"] for f in await take(frames(r), 2)] == [f["id"] for f in taken[2:]]
    for bad in ("-1", "soon", "1e3"):
        refused = await http.get("/v1/events", params={"after": bad}, headers=keys.alice)
        assert refused.status_code == 422, bad
        assert refused.json()["errors"][0]["field"] == "query.after"


async def test_a_scoped_token_without_a_scope_gets_its_scope_alone(
    app: bb.Backburner, http: httpx.AsyncClient, keys: Keys
) -> None:
    inside = await submit(http, keys.alice, scope="novel:1")
    outside = await submit(http, keys.alice, scope="novel:2")
    await finished(app, inside, outside)
    minted = await http.post("/v1/tokens", json={"scope": "novel:1"}, headers=keys.alice)
    token = minted.json()["token"]
    async with http.stream("GET", "/v1/events", params={"access_token": token}) as r:
        assert r.status_code == 200
        stream = frames(r)
        assert {f["data"]["job_id"] for f in await take(stream, 4)} == {inside}
        assert await _nothing_more(stream)
    other = await http.get("/v1/events", params={"access_token": token, "scope": "novel:2"})
    assert other.status_code == 403


async def test_admins_name_the_owner_and_others_may_not(
    app: bb.Backburner, http: httpx.AsyncClient, keys: Keys
) -> None:
    bobs = await submit(http, keys.bob, scope="page")
    alices = await submit(http, keys.alice, scope=None)
    await finished(app, bobs, alices)
    as_bob = {"owner": "bob"}
    async with http.stream("GET", "/v1/events", params=as_bob, headers=keys.admin) as r:
        assert {f["data"]["job_id"] for f in await take(frames(r), 4)} == {bobs}
    forbidden = await http.get("/v1/events", params=as_bob, headers=keys.alice)
    assert forbidden.status_code == 403
    assert (await http.get("/v1/events")).status_code == 401


async def _nothing_more(stream: AsyncIterator[dict[str, Any]]) -> bool:
    """No further event frame arrives within a short wait (the stream itself stays open)."""
    try:
        async with asyncio.timeout(0.3):
            async for f in stream:
                if "comment" not in f:
                    return False
    except TimeoutError:
        return True
    return True


async def test_owner_events_from_the_python_api(app: bb.Backburner) -> None:
    app.task(_noop)
    first = await app.submit("_noop", {}, owner="alice", scope="a")
    await app.submit("_noop", {}, owner="bob")
    second = await app.submit("_noop", {}, owner="alice")
    everything = await app.scope_events("alice", None)
    assert [e.job_id for _, e in everything] == [first.id, second.id]
    after = everything[0][0]
    assert [e.job_id for _, e in await app.scope_events("alice", None, after_id=after)] == [
        second.id
    ]
    assert len(await app.scope_events("alice", None, limit=1)) == 1


@pytest.mark.sqlite_only
@pytest.mark.parametrize("after_id", [0, 10])
async def test_owner_wide_reads_use_indexes_not_a_scan_of_the_jobs(
    app: bb.Backburner, db_url: str, after_id: int
) -> None:
    """A live tail walks the events' primary key from the last id and finds each job by its
    own; a replay may start from the owner's jobs (``ix_jobs_owner``). Neither reads every job."""
    await app.open()
    stmt = queries.scope_events_select("alice", None, after_id, 500)
    engine = direct_engine(db_url)
    try:
        with engine.connect() as conn:
            sql = stmt.compile(conn, compile_kwargs={"literal_binds": True})
            plan = [row[-1] for row in conn.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}"))]
    finally:
        engine.dispose()
    assert not any(step.startswith("SCAN jobs") for step in plan), plan


async def _noop(ctx: bb.Context, data: dict[str, Any]) -> None:
    pass
