"""An API over a test app, an ASGI client, and keys for two owners and an admin."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, Field

import backburner as bb
from backburner.api import create_api


class StoryIn(BaseModel):
    prompt: str = Field(min_length=3)


@dataclass
class Keys:
    alice: dict[str, str]
    bob: dict[str, str]
    admin: dict[str, str]
    alice_id: str


def add_kinds(app: bb.Backburner) -> None:
    @app.task(attempts=1)
    async def story(ctx: bb.Context, data: StoryIn) -> dict[str, Any]:
        await ctx.progress(0.5, "Writing…")
        return {"text": data.prompt.upper()}

    @app.task(attempts=1)
    async def slow(ctx: bb.Context, data: dict[str, Any]) -> None:
        await asyncio.sleep(float(data.get("seconds", 30)))


@pytest.fixture
async def client(app: bb.Backburner) -> AsyncIterator[httpx.AsyncClient]:
    add_kinds(app)
    transport = httpx.ASGITransport(app=create_api(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://backburner.test") as c:
        yield c


@pytest.fixture
async def keys(app: bb.Backburner) -> Keys:
    def bearer(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    alice_id, alice = await app.create_api_key("alice")
    _, bob = await app.create_api_key("bob")
    _, admin = await app.create_api_key("ops", admin=True)
    return Keys(bearer(alice), bearer(bob), bearer(admin), alice_id)
