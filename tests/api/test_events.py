"""Live events (SSE) against uvicorn serving the API on a loopback port in this event loop.

``httpx.ASGITransport`` buffers whole responses, so a stream that waits for new events is
only observable over a real connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

import backburner as bb
from backburner.api import create_api
from backburner.api import events as events_api

from ..conftest import eventually
from .conftest import Keys

STEP_TIMEOUT_S = 10.0


@dataclass
class Live:
    url: str
    app: bb.Backburner
    server: uvicorn.Server
    #: Gated jobs wait for this before they return.
    gate: asyncio.Event


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def live(app: bb.Backburner, keys: Keys) -> AsyncIterator[Live]:
    gate = asyncio.Event()

    @app.task(attempts=1)
    async def draft(ctx: bb.Context, data: dict[str, Any]) -> dict[str, Any]:
        await ctx.progress(0.5, "Halfway…")
        await ctx.partial("draft", "Once upon")
        if data.get("gated"):
            await gate.wait()
        return {"text": "Once upon a time"}

    async with serving_in_loop(app, gate) as (url, server):
        yield Live(url, app, server, gate)


@contextlib.asynccontextmanager
async def serving_in_loop(
    app: bb.Backburner, gate: asyncio.Event
) -> AsyncIterator[tuple[str, uvicorn.Server]]:
    """The API with a worker, served by uvicorn on a free loopback port in this event loop;
    on the way out ``gate`` opens (gated jobs end) and the server must stop within 15 s."""
    port = free_port()
    config = uvicorn.Config(
        create_api(app, run_worker=True), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        assert not task.done(), "the server stopped"
        return server.started

    await eventually(started)
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        gate.set()
        server.should_exit = True
        async with asyncio.timeout(15):  # ends only if every stream noticed its client leave
            await task


@pytest.fixture
async def http(live: Live) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url, timeout=STEP_TIMEOUT_S) as client:
        yield client


async def frames(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Parsed SSE frames: ``{"id", "event", "data"}`` (data decoded), or ``{"comment"}``."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield {"comment": line[1:].strip()}
        elif line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        elif fields:
            data = json.loads(fields["data"])
            yield {"id": int(fields["id"]), "event": fields["event"], "data": data}
            fields = {}


async def take(stream: AsyncIterator[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The next ``n`` event frames (comments skipped), within the step timeout."""
    taken: list[dict[str, Any]] = []
    async with asyncio.timeout(STEP_TIMEOUT_S):
        async for f in stream:
            if "comment" not in f:
                taken.append(f)
            if len(taken) == n:
                break
    return taken


async def rest(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every frame until the server ends the stream, within the step timeout."""
    async with asyncio.timeout(STEP_TIMEOUT_S):
        return [f async for f in stream if "comment" not in f]


def statuses(taken: list[dict[str, Any]]) -> list[str | None]:
    return [f["data"]["data"].get("status") for f in taken]


async def submit(
    http: httpx.AsyncClient, auth: dict[str, str], scope: str | None = None, gated: bool = False
) -> str:
    body = {"kind": "draft", "input": {"gated": gated}, "scope": scope}
    made = await http.post("/v1/jobs", json=body, headers=auth)
    assert made.status_code == 202, made.text
    return str(made.json()["id"])


async def test_job_stream_sends_every_change_in_order_and_ends_after_the_terminal_event(
    live: Live, http: httpx.AsyncClient, keys: Keys
) -> None:
    job_id = await submit(http, keys.alice, gated=True)
    async with http.stream("GET", f"/v1/jobs/{job_id}/events", headers=keys.alice) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        stream = frames(resp)
        before = await take(stream, 4)  # queued, running, progress, partial: the job now waits
        live.gate.set()
        after = await rest(stream)  # the succeeded event arrives live, then the stream ends
    taken = before + after
    assert [f["event"] for f in taken] == ["status", "status", "progress", "partial", "status"]
    assert [f["id"] for f in taken] == [1, 2, 3, 4, 5]
    assert statuses(taken) == ["queued", "running", None, None, "succeeded"]
    assert taken[2]["data"]["data"]["message"] == "Halfway…"
    assert taken[3]["data"]["data"]["key"] == "draft"
    assert {f["data"]["job_id"] for f in taken} == {job_id}
    assert set(taken[0]["data"]) == {"job_id", "seq", "type", "data", "created_at"}


async def test_job_stream_resumes_after_last_event_id(
    live: Live, http: httpx.AsyncClient, keys: Keys
) -> None:
    job_id = await submit(http, keys.alice)
    await live.app.wait(job_id, timeout=STEP_TIMEOUT_S)
    url = f"/v1/jobs/{job_id}/events"
    resumed = {**keys.alice, "Last-Event-ID": "3"}
    async with http.stream("GET", url, params={"after": 1}, headers=resumed) as resp:
        taken = await rest(frames(resp))
    assert [f["id"] for f in taken] == [4, 5]  # the header wins over ?after=
    async with http.stream("GET", url, params={"after": 4}, headers=keys.alice) as resp:
        assert [f["id"] for f in await rest(frames(resp))] == [5]
    # After the terminal event there is nothing more: 204 tells EventSource to stop.
    done = await http.get(url, headers={**keys.alice, "Last-Event-ID": "5"})
    assert done.status_code == 204
    bad = await http.get(url, headers={**keys.alice, "Last-Event-ID": "five"})
    assert bad.status_code == 400
    assert bad.json()["type"] == "/problems/invalid-event-id"


async def test_job_stream_of_another_owner_is_404_and_needs_a_key(
    live: Live, http: httpx.AsyncClient, keys: Keys
) -> None:
    job_id = await submit(http, keys.alice)
    await live.app.wait(job_id, timeout=STEP_TIMEOUT_S)
    url = f"/v1/jobs/{job_id}/events"
    assert (await http.get(url, headers=keys.bob)).status_code == 404
    assert (await http.get("/v1/jobs/nope/events", headers=keys.bob)).status_code == 404
    assert (await http.get(url)).status_code == 401
    assert (await http.get("/v1/events", params={"scope": "page"})).status_code == 401
    async with http.stream("GET", url, headers=keys.admin) as resp:  # admins see every job
        assert statuses(await rest(frames(resp)))[-1] == "succeeded"


async def test_scope_stream_carries_several_jobs_over_one_connection(
    live: Live, http: httpx.AsyncClient, keys: Keys
) -> None:
    other_scope = await submit(http, keys.alice, scope="other")
    other_owner = await submit(http, keys.bob, scope="page")
    for job_id in (other_scope, other_owner):
        await live.app.wait(job_id, timeout=STEP_TIMEOUT_S)
    first = await submit(http, keys.alice, scope="page")
    second = await submit(http, keys.alice, scope="page", gated=True)
    await live.app.wait(first, timeout=STEP_TIMEOUT_S)

    async with http.stream("GET", "/v1/events", params={"scope": "page"}, headers=keys.alice) as r:
        assert r.status_code == 200
        stream = frames(r)
        taken = await take(stream, 9)  # all 5 of the first job, 4 of the gated second
        live.gate.set()
        taken += await take(stream, 1)  # the second job's success arrives live
    assert {f["data"]["job_id"] for f in taken} == {first, second}
    ids = [f["id"] for f in taken]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for job_id in (first, second):
        assert [f["data"]["seq"] for f in taken if f["data"]["job_id"] == job_id] == [1, 2, 3, 4, 5]

    resumed = {**keys.alice, "Last-Event-ID": str(ids[6])}
    async with http.stream("GET", "/v1/events", params={"scope": "page"}, headers=resumed) as r:
        assert [f["id"] for f in await take(frames(r), 3)] == ids[7:]


async def test_scope_stream_stays_open_with_pings_until_the_client_leaves(
    live: Live, http: httpx.AsyncClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_api, "PING_S", 0.2)
    job_id = await submit(http, keys.alice, scope="page")
    await live.app.wait(job_id, timeout=STEP_TIMEOUT_S)
    async with http.stream("GET", "/v1/events", params={"scope": "page"}, headers=keys.alice) as r:
        stream = frames(r)
        assert statuses(await take(stream, 5))[-1] == "succeeded"
        async with asyncio.timeout(STEP_TIMEOUT_S):
            assert await anext(stream) == {"comment": "ping"}  # still open after the end

    async def stream_gone() -> bool:
        return not live.server.server_state.tasks

    await eventually(stream_gone)


async def test_scope_stream_filters(live: Live, http: httpx.AsyncClient, keys: Keys) -> None:
    bobs = await submit(http, keys.bob, scope="page")
    await live.app.wait(bobs, timeout=STEP_TIMEOUT_S)
    as_bob = {"scope": "page", "owner": "bob"}
    async with http.stream("GET", "/v1/events", params=as_bob, headers=keys.admin) as r:
        assert {f["data"]["job_id"] for f in await take(frames(r), 5)} == {bobs}
    forbidden = await http.get("/v1/events", params=as_bob, headers=keys.alice)
    assert forbidden.status_code == 403
    empty = await http.get("/v1/events", params={"scope": ""}, headers=keys.alice)
    assert empty.status_code == 422  # no scope at all is every scope: test_owner_events.py


async def test_scope_events_are_not_lost_when_the_newest_job_is_deleted(
    app: bb.Backburner,
) -> None:
    app.task(_noop)
    kept = await app.submit("_noop", {}, owner="alice", scope="page")
    deleted = await app.submit("_noop", {}, owner="alice", scope="page")
    seen = (await app.scope_events("alice", "page"))[-1][0]
    await app.delete(deleted.id)
    await app.cancel(kept.id)
    assert [e.seq for _, e in await app.scope_events("alice", "page", after_id=seen)] == [2]


async def _noop(ctx: bb.Context, data: dict[str, Any]) -> None:
    pass
