"""Browser tokens: minted by a key, acting as one owner (and scope), signed by a shared secret."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

import backburner as bb
from backburner.api import create_api
from backburner.tokens import SECRET_NAME, mint_token

from ..conftest import eventually
from .conftest import Keys, add_kinds

STORY = {"kind": "story", "input": {"prompt": "a dragon"}}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def mint(
    client: httpx.AsyncClient, key: dict[str, str], status: int = 201, **body: Any
) -> str:
    response = await client.post("/v1/tokens", json=body, headers=key)
    assert response.status_code == status, response.text
    return str(response.json().get("token"))


async def submit(client: httpx.AsyncClient, key: dict[str, str], scope: str | None = None) -> str:
    response = await client.post("/v1/jobs", json={**STORY, "scope": scope}, headers=key)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def test_an_admin_mints_a_token_that_acts_as_the_owner(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    response = await client.post("/v1/tokens", json={"owner": "alice"}, headers=keys.admin)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["owner"] == "alice" and body["scope"] is None
    assert body["token"].startswith("bbt_") and body["expires_at"]
    alices, bobs = await submit(client, keys.alice), await submit(client, keys.bob)
    token = bearer(body["token"])
    assert (await client.get(f"/v1/jobs/{alices}", headers=token)).status_code == 200
    assert (await client.get(f"/v1/jobs/{bobs}", headers=token)).status_code == 404
    listed = (await client.get("/v1/jobs", headers=token)).json()["jobs"]
    assert [job["id"] for job in listed] == [alices]


async def test_a_scoped_token_sees_and_submits_only_in_its_scope(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    mine, other = await submit(client, keys.alice, "s1"), await submit(client, keys.alice, "s2")
    token = bearer(await mint(client, keys.alice, scope="s1"))
    assert (await client.get(f"/v1/jobs/{mine}", headers=token)).status_code == 200
    assert (await client.get(f"/v1/jobs/{other}", headers=token)).status_code == 404
    listed = (await client.get("/v1/jobs", headers=token)).json()["jobs"]
    assert [job["id"] for job in listed] == [mine]
    assert (await client.get("/v1/jobs?scope=s2", headers=token)).status_code == 403
    batch = await client.post("/v1/jobs/batch", json={"ids": [mine, other]}, headers=token)
    assert [job["id"] for job in batch.json()["jobs"]] == [mine]
    assert (await client.get("/v1/events?scope=s2", headers=token)).status_code == 403
    submitted = await client.post("/v1/jobs", json=STORY, headers=token)
    assert submitted.status_code == 202 and submitted.json()["scope"] == "s1"
    assert submitted.json()["owner"] == "alice"
    elsewhere = await client.post("/v1/jobs", json={**STORY, "scope": "s2"}, headers=token)
    assert elsewhere.status_code == 403
    assert (await client.post(f"/v1/jobs/{other}/cancel", headers=token)).status_code == 404


async def test_who_may_mint_for_whom(client: httpx.AsyncClient, keys: Keys) -> None:
    await mint(client, keys.alice)  # its own owner, implicitly
    await mint(client, keys.alice, owner="alice")
    await mint(client, keys.alice, 403, owner="bob")
    await mint(client, keys.admin, 422)  # an admin key must name the owner
    await mint(client, keys.alice, 422, ttl_s=24 * 60 * 60 + 1)
    token = await mint(client, keys.alice)
    await mint(client, bearer(token), 403)  # tokens cannot mint tokens
    await mint(client, {}, 401)


async def test_an_admin_feature_is_not_open_to_a_token(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    token = bearer(await mint(client, keys.admin, owner="alice"))
    assert (await client.get("/v1/jobs?owner=bob", headers=token)).status_code == 403


async def test_expired_and_tampered_tokens_answer_401(
    app: bb.Backburner, client: httpx.AsyncClient, keys: Keys
) -> None:
    secret = await (await app.open()).get_secret(SECRET_NAME)
    expired = mint_token(secret, "alice", None, 60, time.time() - 3600)
    response = await client.get("/v1/jobs", headers=bearer(expired))
    assert response.status_code == 401 and response.json()["detail"] == "token expired"
    token = await mint(client, keys.alice)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await client.get("/v1/jobs", headers=bearer(tampered))).status_code == 401
    forged = mint_token("not-the-secret", "alice", None, 60, time.time())
    assert (await client.get("/v1/jobs", headers=bearer(forged))).status_code == 401


async def test_a_one_second_token_stops_working(client: httpx.AsyncClient, keys: Keys) -> None:
    token = bearer(await mint(client, keys.alice, ttl_s=1))

    async def refused() -> bool:
        return (await client.get("/v1/jobs", headers=token)).status_code == 401

    await eventually(refused, timeout=5)
    assert (await client.get("/v1/jobs", headers=token)).json()["detail"] == "token expired"


async def test_a_token_may_come_as_access_token_but_a_key_may_not(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    job_id = await submit(client, keys.alice)
    token = await mint(client, keys.alice)
    response = await client.get(f"/v1/jobs/{job_id}", params={"access_token": token})
    assert response.status_code == 200 and response.json()["id"] == job_id
    key = keys.alice["Authorization"].removeprefix("Bearer ")
    refused = await client.get(f"/v1/jobs/{job_id}", params={"access_token": key})
    assert refused.status_code == 401 and "never API keys" in refused.json()["detail"]


async def test_every_node_on_the_database_accepts_the_token(
    app: bb.Backburner, settings: bb.Settings, client: httpx.AsyncClient, keys: Keys
) -> None:
    job_id = await submit(client, keys.alice)
    token = await mint(client, keys.alice)
    other = bb.Backburner(settings=settings)
    add_kinds(other)
    transport = httpx.ASGITransport(app=create_api(other))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://b.test") as second:
            response = await second.get(f"/v1/jobs/{job_id}", headers=bearer(token))
            assert response.status_code == 200
        assert await other.read_browser_token(token) == ("alice", None)
    finally:
        await other.close()


async def test_the_secret_is_made_once_even_when_raced(app: bb.Backburner) -> None:
    storage = await app.open()
    made = await asyncio.gather(*(storage.get_secret("raced") for _ in range(8)))
    assert len(set(made)) == 1 and len(made[0]) >= 32
    assert await storage.get_secret("raced") == made[0]
    assert await storage.get_secret("another") != made[0]


async def test_a_scoped_token_cannot_reach_another_scope_through_a_dedupe_key(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    body = {**STORY, "scope": "s2", "dedupe_key": "d"}
    assert (await client.post("/v1/jobs", json=body, headers=keys.alice)).status_code == 202
    token = bearer(await mint(client, keys.alice, scope="s1"))
    response = await client.post("/v1/jobs", json={**STORY, "dedupe_key": "d"}, headers=token)
    assert response.status_code == 409 and "s2" not in response.text
