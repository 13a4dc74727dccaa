"""Webhooks over HTTP: set on submit (keys only), refused when bad, the secret, deliveries."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import backburner as bb
from backburner.webhooks import verify

from ..conftest import eventually
from ..receiver import receiving
from .conftest import Keys

STORY = {"kind": "story", "input": {"prompt": "a dragon"}}


@pytest.fixture
def settings(db_url: str) -> bb.Settings:
    return bb.Settings(
        database_url=db_url,
        lease_s=2.0,
        webhook_allow=("127.0.0.0/8",),
        webhook_retry_delays_s=(0.05,),
    )


async def submit(
    client: httpx.AsyncClient, key: dict[str, str], webhook: Any, status: int = 202
) -> dict[str, Any]:
    response = await client.post("/v1/jobs", json={**STORY, "webhook": webhook}, headers=key)
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_job_submitted_with_a_webhook_is_delivered_signed(
    app: bb.Backburner, client: httpx.AsyncClient, keys: Keys
) -> None:
    with receiving() as receiver:
        job = await submit(client, keys.alice, {"url": receiver.url, "events": ["succeeded"]})
        assert job["webhook"] == {"url": receiver.url, "events": ["succeeded"]}
        async with app.worker():
            (request,) = await receiver.arrived(1)

            async def delivered() -> bool:
                listed = await client.get(f"/v1/jobs/{job['id']}/webhooks", headers=keys.alice)
                return bool(listed.json()) and listed.json()[0]["status"] == "delivered"

            await eventually(delivered)
    secret = (await client.get("/v1/webhooks/secret", headers=keys.alice)).json()
    assert secret == {"owner": "alice", "secret": await app.webhook_secret("alice")}
    event = verify(request.body, request.headers, secret["secret"])
    assert event["type"] == "job.succeeded" and event["data"]["id"] == job["id"]
    (listed,) = (await client.get(f"/v1/jobs/{job['id']}/webhooks", headers=keys.alice)).json()
    assert listed["id"] == request.headers["webhook-id"]
    assert listed["attempts"] == 1 and listed["last_status_code"] == 200
    assert listed["type"] == "job.succeeded" and listed["next_attempt_at"] is None
    other = await client.get(f"/v1/jobs/{job['id']}/webhooks", headers=keys.bob)
    assert other.status_code == 404


@pytest.mark.parametrize(
    ("webhook", "field"),
    [
        ({"url": "http://10.0.0.7/hook"}, "webhook.url"),
        ({"url": "http://[::1]:8080/hook"}, "webhook.url"),
        ({"url": "gopher://example.com/"}, "webhook.url"),
        ({"url": "https://u:p@example.com/"}, "webhook.url"),
        ({"url": "https://example.com/", "events": ["finished"]}, "body.webhook.events.0"),
        ({"url": 7}, "body.webhook.url"),
        ("https://example.com/", "body.webhook"),
    ],
)
async def test_bad_webhooks_are_422_naming_the_field_and_store_nothing(
    app: bb.Backburner,
    client: httpx.AsyncClient,
    keys: Keys,
    webhook: Any,
    field: str,
    settings: bb.Settings,
) -> None:
    if "10.0.0.7" in str(webhook) or "::1" in str(webhook):
        app.settings = settings.model_copy(update={"webhook_allow": ()})
    problem = await submit(client, keys.alice, webhook, status=422)
    assert problem["status"] == 422
    assert [e["field"] for e in problem["errors"]] == [field]
    assert (await app.list()).jobs == []


async def test_browser_tokens_cannot_set_webhooks_or_read_the_secret(
    app: bb.Backburner, client: httpx.AsyncClient, keys: Keys
) -> None:
    minted = await client.post("/v1/tokens", json={}, headers=keys.alice)
    token = {"Authorization": f"Bearer {minted.json()['token']}"}
    problem = await submit(client, token, {"url": "https://example.com/h"}, status=403)
    assert "webhook" in problem["detail"]
    assert (await client.get("/v1/webhooks/secret", headers=token)).status_code == 403
    assert (await app.list()).jobs == []


async def test_only_admins_read_another_owners_secret(
    app: bb.Backburner, client: httpx.AsyncClient, keys: Keys
) -> None:
    refused = await client.get("/v1/webhooks/secret", params={"owner": "alice"}, headers=keys.bob)
    assert refused.status_code == 403
    admin = await client.get("/v1/webhooks/secret", params={"owner": "alice"}, headers=keys.admin)
    assert admin.json()["secret"] == await app.webhook_secret("alice")
    bobs = (await client.get("/v1/webhooks/secret", headers=keys.bob)).json()["secret"]
    assert bobs != admin.json()["secret"]
