"""The example apps (`examples.seeds`) end to end: an app on this test's database whose
providers call a real fake provider server, its HTTP API through an ASGI client, keys."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from examples.seeds import ProviderSet, create_app

import backburner as bb
from backburner.api import create_api
from backburner.fakeprovider import FakeProvider, start_fake_provider

#: Every test starts the fake from these knobs (plus its own): no latency, no faults.
FAKE_SEED = 11


@dataclass(frozen=True)
class Keys:
    """API keys of two owners, raw and as ``Authorization`` headers."""

    alice_key: str
    alice: dict[str, str]
    bob: dict[str, str]


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeProvider]:
    """One fake provider per module (it starts in milliseconds, stops in a tenth of a second)."""
    with start_fake_provider(seed=FAKE_SEED) as fake:
        yield fake


@pytest.fixture
def fake(fake_server: FakeProvider) -> FakeProvider:
    """The fake provider, reset: no requests seen, default knobs."""
    fake_server.reset(seed=FAKE_SEED)
    return fake_server


@pytest.fixture
def seed_settings(db_url: str, tmp_path: Path) -> bb.Settings:
    """A short lease, and artifacts in this test's directory."""
    return bb.Settings(
        database_url=db_url, lease_s=2.0, grace_s=5.0, artifacts_dir=str(tmp_path / "artifacts")
    )


@pytest.fixture
async def seed_app(seed_settings: bb.Settings, fake: FakeProvider) -> AsyncIterator[bb.Backburner]:
    """The example kinds on this test's database, calling the fake."""
    app = create_app(seed_settings, ProviderSet.fake(fake.url))
    yield app
    await app.close()


@pytest.fixture
def transport(seed_app: bb.Backburner) -> httpx.ASGITransport:
    """The app's API, in process, as an httpx transport."""
    return httpx.ASGITransport(app=create_api(seed_app))


@pytest.fixture
async def api(transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the app's API, in process."""
    async with httpx.AsyncClient(transport=transport, base_url="http://backburner.test") as c:
        yield c


@pytest.fixture
async def keys(seed_app: bb.Backburner) -> Keys:
    """Keys for alice and bob."""
    _, alice = await seed_app.create_api_key("alice")
    _, bob = await seed_app.create_api_key("bob")
    return Keys(alice, bearer(alice), bearer(bob))


@pytest.fixture
async def worker(seed_app: bb.Backburner) -> AsyncIterator[bb.Worker]:
    """A worker running the example kinds in this process."""
    async with seed_app.worker() as running:
        yield running


def bearer(key: str) -> dict[str, str]:
    """``Authorization`` header for a key or a browser token."""
    return {"Authorization": f"Bearer {key}"}


async def submit(
    api: httpx.AsyncClient, headers: dict[str, str], kind: str, data: Any, **options: Any
) -> dict[str, Any]:
    """``POST /v1/jobs`` a ``kind`` job of ``data`` with ``options`` (scope, dedupe_key …)."""
    return await post_job(api, headers, {"kind": kind, "input": data, **options})


async def post_job(
    api: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    """``POST /v1/jobs`` with ``body``; the job, after checking the answer is 202 (or 200
    when it is already finished)."""
    response = await api.post("/v1/jobs", json=body, headers=headers)
    assert response.status_code in (200, 202), response.text
    job: dict[str, Any] = response.json()
    return job


async def finished(
    api: httpx.AsyncClient, headers: dict[str, str], job_id: str, timeout: float = 30.0
) -> dict[str, Any]:
    """The job once it has finished, long-polling ``GET /v1/jobs/{id}?wait=``."""
    async with asyncio.timeout(timeout):
        while True:
            response = await api.get(f"/v1/jobs/{job_id}", params={"wait": 5}, headers=headers)
            assert response.status_code == 200, response.text
            job: dict[str, Any] = response.json()
            if job["status"] in ("succeeded", "failed", "canceled"):
                return job
