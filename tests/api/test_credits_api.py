"""Credits over HTTP: the owner's balance and entries, admin grants, 402 with nothing stored,
429 past the queued limit; and the Python client's side of each."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import backburner as bb
from backburner.api import create_api
from tests.api.conftest import Keys
from tests.conftest import count_rows


@pytest.fixture
def paid(app: bb.Backburner, client: httpx.AsyncClient) -> httpx.AsyncClient:
    @app.task(cost=2.5)
    async def paid(ctx: bb.Context, data: dict[str, Any]) -> None:
        return None

    return client


async def test_an_admin_grants_and_the_owner_reads_its_credits(
    paid: httpx.AsyncClient, keys: Keys
) -> None:
    grant = {"owner": "alice", "amount": 10, "note": "welcome"}
    made = await paid.post("/v1/admin/credits", json=grant, headers=keys.admin)
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["balance"], body["available"], body["entry"]["type"]) == (10, 10, "grant")
    job = await paid.post("/v1/jobs", json={"kind": "paid", "input": {}}, headers=keys.alice)
    assert job.status_code == 202 and job.json()["cost"] == 2.5
    mine = (await paid.get("/v1/credits", headers=keys.alice)).json()
    assert (mine["owner"], mine["balance"], mine["reserved"], mine["available"]) == (
        "alice",
        10,
        2.5,
        7.5,
    )
    assert [e["note"] for e in mine["entries"]] == ["welcome"]
    assert (await paid.get("/v1/credits", headers=keys.bob)).json()["balance"] == 0
    as_admin = await paid.get("/v1/credits", params={"owner": "alice"}, headers=keys.admin)
    assert as_admin.json()["available"] == 7.5


async def test_entries_page_newest_first(paid: httpx.AsyncClient, keys: Keys) -> None:
    for amount in (1, 2, 3):
        grant = {"owner": "alice", "amount": amount}
        await paid.post("/v1/admin/credits", json=grant, headers=keys.admin)
    first = (await paid.get("/v1/credits?limit=2", headers=keys.alice)).json()
    assert [e["amount"] for e in first["entries"]] == [3, 2]
    rest = await paid.get(f"/v1/credits?limit=2&before={first['next_before']}", headers=keys.alice)
    assert [e["amount"] for e in rest.json()["entries"]] == [1]
    assert rest.json()["next_before"] is None


async def test_only_admins_grant_or_read_another_owner(paid: httpx.AsyncClient, keys: Keys) -> None:
    grant = {"owner": "alice", "amount": 10}
    refused = await paid.post("/v1/admin/credits", json=grant, headers=keys.alice)
    assert refused.status_code == 403
    other = await paid.get("/v1/credits", params={"owner": "bob"}, headers=keys.alice)
    assert other.status_code == 403
    assert (await paid.get("/v1/credits")).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"owner": "alice", "amount": 0}, "amount: must be greater than 0"),
        ({"owner": "alice", "amount": -1, "type": "adjustment"}, "below the 0 reserved"),
        ({"owner": "alice", "amount": "ten"}, "amount"),
        ({"owner": "", "amount": 1}, "owner"),
        ({"owner": "alice", "amount": 1, "type": "charge"}, "type"),
        ({"owner": "alice", "amount": 1, "extra": 1}, "extra"),
    ],
)
async def test_bad_grants_say_which_field_and_store_nothing(
    paid: httpx.AsyncClient, keys: Keys, db_url: str, body: dict[str, Any], field: str
) -> None:
    answer = await paid.post("/v1/admin/credits", json=body, headers=keys.admin)
    assert answer.status_code == 422, answer.text
    assert field in answer.text
    assert count_rows(db_url, "credit_entries") == 0


async def test_a_submit_without_credits_is_402_and_stores_nothing(
    paid: httpx.AsyncClient, keys: Keys, db_url: str
) -> None:
    answer = await paid.post("/v1/jobs", json={"kind": "paid", "input": {}}, headers=keys.alice)
    assert answer.status_code == 402
    problem = answer.json()
    assert problem["type"] == "/problems/insufficient-credits"
    assert problem["detail"].startswith("credits: a 'paid' job costs 2.5; 'alice' has 0")
    assert count_rows(db_url) == 0


async def test_past_the_queued_limit_a_submit_is_429_and_stores_nothing(
    app: bb.Backburner, keys: Keys, db_url: str
) -> None:
    app.settings = app.settings.model_copy(update={"owner_max_queued": 2})

    @app.task
    async def free(ctx: bb.Context, data: dict[str, Any]) -> None:
        return None

    transport = httpx.ASGITransport(app=create_api(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://bb.test") as client:
        for _ in range(2):
            ok = await client.post(
                "/v1/jobs", json={"kind": "free", "input": {}}, headers=keys.alice
            )
            assert ok.status_code == 202
        over = await client.post("/v1/jobs", json={"kind": "free", "input": {}}, headers=keys.alice)
        assert over.status_code == 429
        assert over.json()["type"] == "/problems/limit-exceeded"
        assert "'alice' already has 2 queued jobs" in over.json()["detail"]
        bob = await client.post("/v1/jobs", json={"kind": "free", "input": {}}, headers=keys.bob)
        assert bob.status_code == 202
    assert count_rows(db_url) == 3


async def test_the_python_client_reads_and_grants(
    app: bb.Backburner, paid: httpx.AsyncClient, keys: Keys
) -> None:
    transport = httpx.ASGITransport(app=create_api(app))
    url = "http://backburner.test"
    admin_key, alice_key = (k["Authorization"][7:] for k in (keys.admin, keys.alice))
    async with (
        bb.AsyncClient(url, admin_key, transport=transport) as admin,
        bb.AsyncClient(url, alice_key, transport=transport) as alice,
    ):
        entry = await admin.grant_credits("alice", 2, note="hi")
        assert (entry.owner, entry.type, entry.amount, entry.note) == ("alice", "grant", 2, "hi")
        report = await alice.credits()
        assert (report.balance, report.available, len(report.entries)) == (2, 2, 1)
        with pytest.raises(bb.InsufficientCredits, match=r"costs 2\.5"):
            await alice.submit("paid", {})
        with pytest.raises(bb.errors.Forbidden):
            await alice.grant_credits("alice", 5)
