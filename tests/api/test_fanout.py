"""The event hub: 20 job streams and a scope stream over a real server, every event in order
and exactly once — normally, when subscribers overflow, and when streams read for themselves."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

import backburner as bb
from backburner.api import create_api, fanout

N = 60  # progress events per job
Frames = list[tuple[int, dict[str, Any]]]


@contextlib.asynccontextmanager
async def running(api: FastAPI) -> AsyncIterator[str]:
    """``api`` served by uvicorn on a free loopback port, in this event loop."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def until(check: Callable[[], bool], timeout: float = 10) -> None:
    for _ in range(int(timeout / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


async def read(http: httpx.AsyncClient, path: str, auth: dict[str, str], limit: int) -> Frames:
    """The ``(id, data)`` of a stream's events, until it ends or ``limit`` arrived."""
    got: Frames = []
    fields: dict[str, str] = {}
    async with http.stream("GET", path, headers=auth) as response:
        async for line in response.aiter_lines():
            if line and not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            elif not line and fields:
                got.append((int(fields["id"]), json.loads(fields["data"])))
                fields = {}
                if len(got) == limit:
                    break
    return got


def hub_count(api: FastAPI) -> int:
    hub = getattr(api.state, "event_hub", None)  # made by the first stream
    return -1 if hub is None else int(hub._count)


def burst_app(db_url: str, gate: asyncio.Event) -> bb.Backburner:
    app = bb.Backburner(db_url)

    @app.task(attempts=1)
    async def burst(ctx: bb.Context, data: dict[str, Any]) -> int:
        await gate.wait()
        for i in range(N):
            await ctx.progress((i + 1) / N, str(i))
        return N

    return app


def check_job_stream(frames: Frames) -> None:
    assert [i for i, _ in frames] == list(range(1, N + 4))  # queued, running, N, succeeded
    assert frames[-1][1]["data"]["status"] == "succeeded"


def check_scope_stream(frames: Frames, jobs: list[str]) -> None:
    ids = [i for i, _ in frames]
    assert ids == sorted(set(ids)) and len(ids) == 2 * (N + 3)
    for job_id in jobs:
        assert [d["seq"] for _, d in frames if d["job_id"] == job_id] == list(range(1, N + 4))


@pytest.mark.parametrize("mode", ["hub", "overflow"])
async def test_every_stream_gets_every_event_once_in_order(
    db_url: str, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    if mode == "overflow":
        monkeypatch.setattr(fanout, "MAX_PENDING", 3)
    gate = asyncio.Event()
    app = burst_app(db_url, gate)
    auth = {"Authorization": f"Bearer {(await app.create_api_key('alice'))[1]}"}
    api = create_api(app, run_worker=True)
    async with running(api) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        body = {"kind": "burst", "input": {}, "scope": "page"}
        jobs = [(await http.post("/v1/jobs", json=body, headers=auth)).json()["id"] for _ in "ab"]
        streams: list[Awaitable[Frames]] = [
            read(http, f"/v1/jobs/{job_id}/events", auth, 1000)
            for job_id in jobs
            for _ in "0123456789"
        ]
        watching = [asyncio.ensure_future(s) for s in streams]
        scoped = asyncio.ensure_future(read(http, "/v1/events?scope=page", auth, 2 * (N + 3)))
        await until(lambda: hub_count(api) == 21)  # every stream subscribed
        hub = api.state.event_hub
        gate.set()
        for frames in await asyncio.wait_for(asyncio.gather(*watching), 60):
            check_job_stream(frames)
        check_scope_stream(await asyncio.wait_for(scoped, 60), jobs)
        await until(lambda: hub._count == 0 and hub._task is None)  # the hub stops reading
        assert not hub._subs
    await app.close()
