"""POST /v1/worker/tick: a serverless cron runs the worker loop for a bounded time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

import backburner as bb
from backburner.api import create_api
from tests.api.conftest import add_kinds
from tests.api.test_jobs_api import assert_problem

SECRET = "cron-secret-123"


@pytest.fixture
async def ticking(settings: bb.Settings) -> AsyncIterator[tuple[bb.Backburner, httpx.AsyncClient]]:
    app = bb.Backburner(
        settings=bb.Settings.build(**{**settings.model_dump(), "tick_secret": SECRET})
    )
    add_kinds(app)
    transport = httpx.ASGITransport(app=create_api(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://backburner.test") as c:
        yield app, c
    await app.close()


async def test_a_tick_runs_the_queued_jobs_and_reports_them(
    ticking: tuple[bb.Backburner, httpx.AsyncClient],
) -> None:
    app, client = ticking
    jobs = [await app.submit("story", {"prompt": f"prompt {i}"}) for i in range(3)]
    response = await client.post(
        "/v1/worker/tick?seconds=20", headers={"Authorization": f"Bearer {SECRET}"}
    )
    assert response.status_code == 200
    assert response.json()["jobs"] == {"succeeded": 3}
    assert response.json()["ran_s"] < 20  # burst: it returned once nothing was runnable
    assert [j.status for j in await app.get_many([j.id for j in jobs])] == ["succeeded"] * 3


async def test_jobs_unfinished_at_the_deadline_go_back_unspent(
    ticking: tuple[bb.Backburner, httpx.AsyncClient],
) -> None:
    app, client = ticking
    job = await app.submit("slow", {"seconds": 30})
    response = await client.post(
        "/v1/worker/tick?seconds=0.5", headers={"Authorization": f"Bearer {SECRET}"}
    )
    assert response.json()["jobs"] == {"released": 1}
    back = await app.get(job.id)
    assert (back.status, back.attempt) == (bb.JobStatus.QUEUED, 0)


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {SECRET}"}]
)
async def test_a_wrong_or_missing_secret_is_401_and_runs_nothing(
    ticking: tuple[bb.Backburner, httpx.AsyncClient], headers: dict[str, str]
) -> None:
    app, client = ticking
    job = await app.submit("story", {"prompt": "untouched"})
    response = await client.post("/v1/worker/tick", headers=headers)
    assert_problem(response, 401, "tick secret")
    assert SECRET not in response.text
    assert (await app.get(job.id)).status is bb.JobStatus.QUEUED


async def test_the_tick_is_off_unless_a_secret_is_configured(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v1/worker/tick", headers={"Authorization": "Bearer x"})
    assert_problem(response, 404, "not enabled")


async def test_seconds_out_of_range(ticking: tuple[bb.Backburner, httpx.AsyncClient]) -> None:
    _, client = ticking
    auth = {"Authorization": f"Bearer {SECRET}"}
    assert_problem(await client.post("/v1/worker/tick?seconds=0", headers=auth), 422, "seconds")
    assert_problem(await client.post("/v1/worker/tick?seconds=301", headers=auth), 422, "seconds")
