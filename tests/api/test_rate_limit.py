"""Per-owner submission rate limits: 429 with Retry-After, nothing stored, others unaffected."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

import backburner as bb
from backburner.api import create_api
from backburner.api.ratelimit import RateLimiter
from backburner.errors import ConfigError
from tests.api.conftest import add_kinds
from tests.api.test_jobs_api import assert_problem, rows


@pytest.fixture
async def limited(settings: bb.Settings) -> AsyncIterator[tuple[bb.Backburner, httpx.AsyncClient]]:
    values = {**settings.model_dump(), "submit_rate_limit": "3/m"}
    app = bb.Backburner(settings=bb.Settings.build(**values))
    add_kinds(app)
    transport = httpx.ASGITransport(app=create_api(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://backburner.test") as c:
        yield app, c
    await app.close()


async def test_over_the_rate_is_429_with_retry_after(
    limited: tuple[bb.Backburner, httpx.AsyncClient],
) -> None:
    app, client = limited
    _, alice = await app.create_api_key("alice")
    _, bob = await app.create_api_key("bob")
    body = {"kind": "story", "input": {"prompt": "again"}}
    for _ in range(3):
        ok = await client.post("/v1/jobs", json=body, headers={"Authorization": f"Bearer {alice}"})
        assert ok.status_code == 202
    refused = await client.post("/v1/jobs", json=body, headers={"Authorization": f"Bearer {alice}"})
    assert_problem(refused, 429, "rate limit")
    assert 1 <= int(refused.headers["retry-after"]) <= 20  # one token per 20 s at 3/m
    assert rows(app) == 3
    other = await client.post("/v1/jobs", json=body, headers={"Authorization": f"Bearer {bob}"})
    assert other.status_code == 202  # each owner has a bucket of their own


def test_the_bucket_refills_with_time(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("backburner.api.ratelimit.time.monotonic", lambda: clock[0])
    limiter = RateLimiter(2, 1.0)
    limiter.allow("a")
    limiter.allow("a")
    with pytest.raises(Exception, match="rate limit"):
        limiter.allow("a")
    clock[0] += 0.5  # half a second refills one of two per second
    limiter.allow("a")


@pytest.mark.parametrize("rate", ["lots", "0/m", "5/d", "5 per minute"])
def test_bad_rate_settings_are_config_errors(rate: str) -> None:
    with pytest.raises(ConfigError, match="BACKBURNER_RATE_LIMIT"):
        bb.Settings.from_env({"BACKBURNER_RATE_LIMIT": rate})
