"""Seed 003: designs in several tabs at once; credits reserved at submit, charged when
generation starts, refunded when it fails; no long-running worker needed (the tick)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from examples.seeds import ProviderSet, create_app
from pydantic import SecretStr

import backburner as bb
from backburner.api import create_api
from backburner.fakeprovider import FakeProvider

from .conftest import Keys, bearer, finished, submit

pytestmark = pytest.mark.sqlite_only


def design(tab: int, variations: int, prompt: str = "teal waves with gold foil") -> dict[str, Any]:
    """A tab's design request (``variations`` credits)."""
    return {"prompt": prompt, "tab": f"Design {tab}", "colors": ["teal"], "variations": variations}


async def credits(api: httpx.AsyncClient, keys: Keys) -> dict[str, Any]:
    """``GET /v1/credits`` for alice."""
    response = await api.get("/v1/credits", headers=keys.alice)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def entry_types(report: dict[str, Any]) -> list[tuple[str, float]]:
    """The ledger's entries, oldest first, as (type, amount)."""
    return [(e["type"], e["amount"]) for e in reversed(report["entries"])]


async def test_tabs_generate_in_parallel_and_are_charged_when_they_start(
    api: httpx.AsyncClient, keys: Keys, fake: FakeProvider, seed_app: bb.Backburner
) -> None:
    await seed_app.credits.grant("alice", 10)
    fake.set_knobs(latency_s=0.3)
    tabs = [
        await submit(api, keys.alice, "nail_design", design(n, v))
        for n, v in [(1, 1), (2, 2), (3, 1)]
    ]

    queued = await credits(api, keys)
    assert (queued["balance"], queued["reserved"], queued["available"]) == (10, 4, 6)
    assert entry_types(queued) == [("grant", 10)]  # nothing charged before generation starts

    async with seed_app.worker():
        done = [await finished(api, keys.alice, tab["id"]) for tab in tabs]

    assert [len(d["output"]["images"]) for d in done] == [1, 2, 1]
    starts = [datetime.fromisoformat(d["started_at"]) for d in done]
    ends = [datetime.fromisoformat(d["finished_at"]) for d in done]
    assert max(starts) < min(ends), "the tabs did not generate at the same time"
    after = await credits(api, keys)
    assert (after["balance"], after["reserved"]) == (6, 0)
    assert sorted(entry_types(after)[1:]) == [("charge", -2), ("charge", -1), ("charge", -1)]
    image = await api.get(done[1]["output"]["images"][1], headers=keys.alice)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert (await api.get(done[1]["output"]["images"][1], headers=keys.bob)).status_code == 404


async def test_a_failed_design_is_refunded(
    api: httpx.AsyncClient,
    keys: Keys,
    fake: FakeProvider,
    seed_app: bb.Backburner,
    worker: bb.Worker,
) -> None:
    await seed_app.credits.grant("alice", 5)
    fake.set_knobs(fail_next=[400])  # the image API refuses the request: no retry
    job = await submit(api, keys.alice, "nail_design", design(1, 2))
    done = await finished(api, keys.alice, job["id"])

    assert done["status"] == "failed" and done["attempt"] == 1
    assert done["error"]["type"] == "provider_error"
    assert done["error"]["message"].startswith("ProviderRejected: 400")
    report = await credits(api, keys)
    assert (report["balance"], report["reserved"]) == (5, 0)
    assert entry_types(report) == [("grant", 5), ("charge", -2), ("refund", 2)]


async def test_a_design_the_owner_cannot_pay_for_is_refused_and_not_stored(
    api: httpx.AsyncClient, keys: Keys, seed_app: bb.Backburner
) -> None:
    await seed_app.credits.grant("alice", 1)
    body = {"kind": "nail_design", "input": design(1, 2)}
    response = await api.post("/v1/jobs", json=body, headers=keys.alice)

    assert response.status_code == 402
    assert response.json()["type"] == "/problems/insufficient-credits"
    assert (await api.get("/v1/jobs", headers=keys.alice)).json()["jobs"] == []


async def test_a_cron_tick_runs_the_designs_without_a_worker(
    seed_settings: bb.Settings, fake: FakeProvider
) -> None:
    settings = seed_settings.model_copy(update={"tick_secret": SecretStr("s3cret")})
    app = create_app(settings, ProviderSet.fake(fake.url))
    try:
        await app.credits.grant("alice", 4)
        _, key = await app.create_api_key("alice")
        transport = httpx.ASGITransport(app=create_api(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://bb.test") as api:
            jobs = [await submit(api, bearer(key), "nail_design", design(n, 1)) for n in (1, 2)]
            tick = await api.post(
                "/v1/worker/tick", params={"seconds": 30}, headers=bearer("s3cret")
            )
            assert tick.status_code == 200, tick.text
            assert tick.json()["jobs"] == {"succeeded": 2}
            for job in jobs:
                current = (await api.get(f"/v1/jobs/{job['id']}", headers=bearer(key))).json()
                assert current["status"] == "succeeded"
        assert (await app.credits.balance("alice")).balance == 2
    finally:
        await app.close()
