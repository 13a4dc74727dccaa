"""Clients over the API: `AsyncClient` in-process (ASGI), `Client` against a real server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import backburner as bb
from backburner.api import create_api
from tests.api.conftest import StoryIn
from tests.api.test_real_server import BIN, ROOT, free_port


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
    tmp_path = tmp_path_factory.mktemp("serve")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKBURNER_")}
    env["BACKBURNER_DATABASE_URL"] = f"sqlite:///{tmp_path / 'serve.db'}"
    made = subprocess.run(
        [BIN, "keys", "create", "--owner", "alice"],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [BIN, "serve", "tests.api.serverapp:app", "--port", str(port)],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, tmp_path / "serve.log")
        yield url, made.stdout.strip()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "server did not become ready"
        time.sleep(0.05)
