"""Bad requests: a problem+json body naming what is wrong, and nothing stored."""

from __future__ import annotations

import httpx
import pytest

import backburner as bb
from tests.api.conftest import Keys
from tests.api.test_jobs_api import assert_problem, rows


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"kind": "nope", "input": {}}, 422, "unknown kind 'nope'"),
        ({"kind": "story", "input": {"prompt": "x"}}, 422, "prompt"),
        ({"kind": "story", "input": {}}, 422, "prompt: Field required"),
        ({"kind": "story", "input": {"prompt": "abc"}, "owner": "mallory"}, 422, "owner"),
        ({"kind": "story", "input": {"prompt": "abc"}, "status": "succeeded"}, 422, "status"),
        ({"kind": "story", "input": {"prompt": "abc"}, "attempt": 9}, 422, "attempt"),
        ({"kind": "story", "input": {"prompt": "abc"}, "priority": "high"}, 422, "priority"),
        ({"input": {"prompt": "abc"}}, 422, "kind"),
        ({"kind": "story", "input": {"prompt": "a" * 2_000_000}}, 413, "over the limit"),
    ],
)
async def test_bad_bodies(
    app: bb.Backburner,
    client: httpx.AsyncClient,
    keys: Keys,
    body: dict[str, object],
    status: int,
    detail: str,
) -> None:
    response = await client.post("/v1/jobs", json=body, headers=keys.alice)
    problem = assert_problem(response, status, detail)
    assert "a" * 100 not in response.text  # the input is never echoed back
    if status == 422 and "errors" in problem:
        assert all("field" in e and "message" in e for e in problem["errors"])  # type: ignore[union-attr]
    assert rows(app) == 0


@pytest.mark.parametrize("prefer", ["wait=0", "wait=61", "wait=soon"])
async def test_prefer_wait_out_of_range(
    app: bb.Backburner, client: httpx.AsyncClient, keys: Keys, prefer: str
) -> None:
    response = await client.post(
        "/v1/jobs",
        json={"kind": "story", "input": {"prompt": "abc"}},
        headers={**keys.alice, "Prefer": prefer},
    )
    assert_problem(response, 400, "Prefer: wait")
    assert rows(app) == 0


async def test_missing_invalid_and_revoked_keys_are_401(
    app: bb.Backburner, client: httpx.AsyncClient, keys: Keys
) -> None:
    body = {"kind": "story", "input": {"prompt": "abc"}}
    missing = await client.post("/v1/jobs", json=body)
    assert_problem(missing, 401, "Authorization")
    assert missing.headers["www-authenticate"] == "Bearer"
    assert_problem(
        await client.post("/v1/jobs", json=body, headers={"Authorization": "Basic x"}),
        401,
        "Bearer",
    )
    bogus = {"Authorization": "Bearer bb_000000000000_not-a-real-key"}
    response = await client.post("/v1/jobs", json=body, headers=bogus)
    assert_problem(response, 401, "not valid")
    assert "not-a-real-key" not in response.text  # never an echo of a secret
    await app.revoke_api_key(keys.alice_id)
    assert_problem(await client.post("/v1/jobs", json=body, headers=keys.alice), 401, "revoked")
    assert rows(app) == 0


async def test_batch_limits_and_bad_wait(client: httpx.AsyncClient, keys: Keys) -> None:
    too_many = {"ids": [f"id-{i}" for i in range(101)]}
    assert_problem(
        await client.post("/v1/jobs/batch", json=too_many, headers=keys.alice), 422, "ids"
    )
    assert_problem(await client.get("/v1/jobs/x?wait=99", headers=keys.alice), 400, "wait")
    assert_problem(await client.get("/v1/jobs?status=done", headers=keys.alice), 422, "status")


@pytest.mark.parametrize(
    ("content", "content_type", "status", "detail"),
    [
        (b'{"kind": "story", "kind": "slow", "input": {}}', None, 400, "duplicate key 'kind'"),
        (b'{"kind": "story", "input": {"prompt": "abc", "x": NaN}}', None, 400, "NaN"),
        (b'{"kind": "story", "input": {"x": Infinity}}', None, 400, "Infinity"),
        (b'{"kind": "story", "input": ' + b"[" * 5000 + b"]" * 5000 + b"}", None, 400, "nested"),
        (b'{"kind": "story", "input": {"prompt": "ab\\u0000c"}}', None, 422, "NUL"),
        (b'{"kind": "story", "input": {"prompt": "ab\xff\xfec"}}', None, 400, "UTF-8"),
        (b'{"kind": "story", "input": ', None, 400, "not valid JSON"),
        (b"kind=story&input=x", "application/x-www-form-urlencoded", 415, "application/json"),
        (b'{"kind": "story", "input": {"prompt": "abc"}}', "text/plain", 415, "application/json"),
        (b"", None, 422, "body: Field required"),
        (b'{"kind": "story", "input": "' + b"a" * 1_200_000 + b'"}', None, 413, "over the limit"),
        (b'["kind", "story"]', None, 422, "body"),
    ],
)
async def test_malformed_bodies_are_4xx_and_store_nothing(
    app: bb.Backburner,
    client: httpx.AsyncClient,
    keys: Keys,
    content: bytes,
    content_type: str | None,
    status: int,
    detail: str,
) -> None:
    headers = {**keys.alice, "Content-Type": content_type or "application/json"}
    response = await client.post("/v1/jobs", content=content, headers=headers)
    assert_problem(response, status, detail)
    assert rows(app) == 0


async def test_a_declared_oversize_body_is_refused_before_it_is_read(
    app: bb.Backburner, client: httpx.AsyncClient, keys: Keys
) -> None:
    headers = {**keys.alice, "Content-Type": "application/json", "Content-Length": "99999999"}
    response = await client.post("/v1/jobs", content=b"{}", headers=headers)
    assert_problem(response, 413, "over the limit")
    assert rows(app) == 0


@pytest.mark.parametrize(
    "cursor", ["abc", "'; DROP TABLE jobs; --", "0" * 37, "ZZZZZZZZ-0000-0000-0000-000000000000"]
)
async def test_a_malformed_cursor_is_422(
    client: httpx.AsyncClient, keys: Keys, cursor: str
) -> None:
    response = await client.get("/v1/jobs", params={"cursor": cursor}, headers=keys.alice)
    assert_problem(response, 422, "cursor")
