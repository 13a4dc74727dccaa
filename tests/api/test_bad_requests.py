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


async def test_malformed_json_is_a_422_not_a_500(
    app: bb.Backburner, client: httpx.AsyncClient, keys: Keys
) -> None:
    response = await client.post(
        "/v1/jobs",
        content=b'{"kind": "story", "input": ',
        headers={**keys.alice, "Content-Type": "application/json"},
    )
    assert_problem(response, 422, "")
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
