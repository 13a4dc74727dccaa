"""Clients over the API: `AsyncClient` in-process (ASGI), `Client` against a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

import backburner as bb
from backburner.api import create_api
from tests.api.conftest import StoryIn
from tests.api.test_real_server import serving


@dataclass
class Clients:
    alice: bb.AsyncClient
    bob: bb.AsyncClient
    nobody: bb.AsyncClient


@pytest.fixture
def gate() -> asyncio.Event:
    """Set by a test to let a running `gated` job finish."""
    return asyncio.Event()


@pytest.fixture
async def clients(app: bb.Backburner, gate: asyncio.Event) -> AsyncIterator[Clients]:
    @app.task(attempts=1)
    async def story(ctx: bb.Context, data: StoryIn) -> dict[str, Any]:
        return {"text": data.prompt.upper()}

    @app.task(attempts=1)
    async def gated(ctx: bb.Context, data: dict[str, Any]) -> str:
        await ctx.progress(0.5, "Halfway")
        await gate.wait()
        return "done"

    transport = httpx.ASGITransport(app=create_api(app))
    _, alice = await app.create_api_key("alice")
    _, bob = await app.create_api_key("bob")
    url = "http://backburner.test"
    async with (
        bb.AsyncClient(url, alice, transport=transport) as a,
        bb.AsyncClient(url, bob, transport=transport) as b,
        bb.AsyncClient(url, "bb_nope_nope", transport=transport) as n,
    ):
        yield Clients(a, b, n)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A real `backburner serve` on a loopback port, and a key for alice."""
    with serving(tmp_path_factory.mktemp("serve")) as (url, auth, _proc):
        yield url, auth["Authorization"].removeprefix("Bearer ")
