"""Per-owner submission rate limits: 429 with Retry-After, nothing stored, others unaffected;
one limit however many processes (apps) serve the owner, counted in the database by the
submits that store a new job."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

import backburner as bb
from backburner.api import create_api
from backburner.errors import ConfigError
from tests.api.conftest import add_kinds
from tests.api.test_jobs_api import assert_problem, rows
from tests.conftest import count_rows, run_sql


def limited_app(settings: bb.Settings, rate: str) -> bb.Backburner:
    """An app (one process's) on the test's database, limited to ``rate`` submits per owner."""
    values = {**settings.model_dump(), "submit_rate_limit": rate}
    app = bb.Backburner(settings=bb.Settings.build(**values))
    add_kinds(app)
    return app


@asynccontextmanager
async def api_process(
    settings: bb.Settings,
) -> AsyncIterator[tuple[bb.Backburner, httpx.AsyncClient]]:
    """An app limited to 3 submits a minute, and a client of its API: one API process."""
    app = limited_app(settings, "3/m")
    transport = httpx.ASGITransport(app=create_api(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://backburner.test") as c:
        yield app, c
    await app.close()


@pytest.fixture
async def limited(settings: bb.Settings) -> AsyncIterator[tuple[bb.Backburner, httpx.AsyncClient]]:
    async with api_process(settings) as limited_api:
        yield limited_api


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


async def test_two_api_processes_count_against_one_limit(settings: bb.Settings) -> None:
    body = {"kind": "story", "input": {"prompt": "again"}}
    async with api_process(settings) as (app, first), api_process(settings) as (_, second):
        _, key = await app.create_api_key("alice")
        auth = {"Authorization": f"Bearer {key}"}
        answers = [
            (await api.post("/v1/jobs", json=body, headers=auth)).status_code
            for api in (first, second, first, second, first)
        ]
        assert answers == [202, 202, 202, 429, 429]
        assert rows(app) == 3


STORY = {"prompt": "again"}


async def test_concurrent_submits_from_two_apps_let_exactly_the_limit_through(
    settings: bb.Settings,
) -> None:
    apps = [limited_app(settings, "5/h"), limited_app(settings, "5/h")]
    try:
        submits = [apps[i % 2].submit("story", STORY, owner="alice") for i in range(20)]
        results = await asyncio.gather(*submits, return_exceptions=True)
    finally:
        for app in apps:
            await app.close()
    made = [r for r in results if isinstance(r, bb.Job)]
    refused = [r for r in results if isinstance(r, bb.RateLimited)]
    assert (len(made), len(refused)) == (5, 15), results
    assert all(700 < r.retry_after_s <= 720 for r in refused)  # one submit per 12 minutes
    assert count_rows(settings.database_url) == 5


async def test_the_allowance_refills_with_the_database_clock(
    settings: bb.Settings, db_url: str
) -> None:
    app = limited_app(settings, "2/m")
    async with app:
        for _ in range(2):
            await app.submit("story", STORY, owner="a")
        with pytest.raises(bb.RateLimited, match="retry in 30 s") as refused:
            await app.submit("story", STORY, owner="a")
        assert refused.value.retry_after_s == pytest.approx(30, abs=1)
        run_sql(db_url, "UPDATE submit_rates SET tat = tat - 30")  # half a minute later
        await app.submit("story", STORY, owner="a")  # half a minute refills one of two
        with pytest.raises(bb.RateLimited):
            await app.submit("story", STORY, owner="a")
        await app.submit("story", STORY, owner="b")  # another owner's own allowance


async def test_only_submits_that_store_a_new_job_count(settings: bb.Settings) -> None:
    app = limited_app(settings, "2/m")
    async with app:
        first = await app.submit("story", STORY, owner="a", dedupe_key="k")
        again = await app.submit("story", STORY, owner="a", dedupe_key="k")
        keyed = await app.submit("story", STORY, owner="a", idempotency_key="i")
        replay = await app.submit("story", STORY, owner="a", idempotency_key="i")
        with pytest.raises(bb.InputValidationError):
            await app.submit("story", {"prompt": 5}, owner="a")
        with pytest.raises(bb.RateLimited):
            await app.submit("story", STORY, owner="a")
    assert (again.id, again.deduplicated) == (first.id, True)
    assert (replay.id, replay.deduplicated) == (keyed.id, True)
    assert count_rows(settings.database_url) == 2


async def test_maintenance_forgets_owners_whose_allowance_is_whole(
    settings: bb.Settings, db_url: str
) -> None:
    app = limited_app(settings, "10/m")
    async with app:
        for owner in ("idle", "busy"):
            await app.submit("story", STORY, owner=owner)
        run_sql(db_url, "UPDATE submit_rates SET tat = tat - 7 WHERE owner = 'idle'")
        await (await app.open()).run_maintenance(retention_s=3600, limit=100)
    assert [row[0] for row in run_sql(db_url, "SELECT owner FROM submit_rates")] == ["busy"]


@pytest.mark.parametrize("rate", ["lots", "0/m", "5/d", "5 per minute"])
def test_bad_rate_settings_are_config_errors(rate: str) -> None:
    with pytest.raises(ConfigError, match="BACKBURNER_RATE_LIMIT"):
        bb.Settings.from_env({"BACKBURNER_RATE_LIMIT": rate})
