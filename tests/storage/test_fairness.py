"""Fair claiming and limits in the database: one owner's backlog never starves another's job,
a kind's concurrency counts every worker's jobs, owners' running and queued limits hold."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import backburner as bb
from backburner.storage import ClaimLimits, ClaimRequest, Outcome, Storage

S = bb.JobStatus


@pytest.fixture
def kinds(app: bb.Backburner) -> bb.Backburner:
    @app.task
    async def text(ctx: bb.Context, data: dict[str, Any]) -> None:
        return None

    @app.task(concurrency=2)
    async def video(ctx: bb.Context, data: dict[str, Any]) -> None:
        return None

    return app


def ask(*kinds: str, room: int = 100) -> list[ClaimRequest]:
    return [ClaimRequest(kinds or ("text",), room)]


async def claim(
    storage: Storage, limit: int, limits: ClaimLimits | None = None, *kinds: str, worker: str = "w"
) -> list[bb.Job]:
    claims = await storage.claim_jobs(worker, ask(*kinds), 30.0, limit, limits or ClaimLimits())
    return [c.job for c in claims]


async def test_one_owners_backlog_does_not_starve_anothers_job(kinds: bb.Backburner) -> None:
    """A has 1,000 queued and every slot; B submits one: the next freed slot is B's."""
    for _ in range(10):
        await asyncio.gather(*(kinds.submit("text", {"n": i}, owner="a") for i in range(100)))
    storage = await kinds.open()
    busy = await storage.claim_jobs("w", ask(), 30.0, 4)
    assert {c.job.owner for c in busy} == {"a"}
    b_job = await kinds.submit("text", {}, owner="b")
    done = busy[0]
    await storage.finish_jobs([Outcome(done.lease, S.SUCCEEDED)])
    assert [j.id for j in await claim(storage, 1)] == [b_job.id]
    assert [j.owner for j in await claim(storage, 1)] == ["a"]


async def test_slots_go_round_owners_and_priorities_hold_within_one(kinds: bb.Backburner) -> None:
    for owner in ("a", "b", "c"):
        for priority in (0, 5):
            await kinds.submit("text", {}, owner=owner, priority=priority)
    storage = await kinds.open()
    first = await claim(storage, 3)
    assert sorted(j.owner for j in first) == ["a", "b", "c"]
    assert {j.priority for j in first} == {5}
    assert sorted(j.owner for j in await claim(storage, 3)) == ["a", "b", "c"]


async def test_a_lone_owner_fills_the_whole_claim(kinds: bb.Backburner) -> None:
    ids = [(await kinds.submit("text", {}, owner="a")).id for _ in range(30)]
    storage = await kinds.open()
    assert [j.id for j in await claim(storage, 30)] == ids  # oldest first


async def test_a_kinds_concurrency_counts_every_workers_jobs(kinds: bb.Backburner) -> None:
    for owner in ("a", "b"):
        for _ in range(3):
            await kinds.submit("video", {}, owner=owner)
    storage = await kinds.open()
    limits = ClaimLimits(kind_running={"video": 2})
    one = await claim(storage, 10, limits, "video", worker="w1")
    two = await claim(storage, 10, limits, "video", worker="w2")
    assert (len(one), len(two)) == (2, 0)
    assert sorted(j.owner for j in one) == ["a", "b"]


async def test_claims_on_many_connections_keep_a_kinds_limit(kinds: bb.Backburner) -> None:
    for _ in range(20):
        await kinds.submit("video", {}, owner="a")
    storage = await kinds.open()
    limits = ClaimLimits(kind_running={"video": 3})
    claimed = await asyncio.gather(
        *(claim(storage, 10, limits, "video", worker=f"w{i}") for i in range(8))
    )
    assert sum(len(c) for c in claimed) == 3


async def test_an_owners_running_limit(kinds: bb.Backburner) -> None:
    for owner in ("a", "b"):
        for _ in range(5):
            await kinds.submit("text", {}, owner=owner)
    storage = await kinds.open()
    limits = ClaimLimits(owner_running=2)
    first = await storage.claim_jobs("w", ask(), 30.0, 10, limits)
    assert sorted(c.job.owner for c in first) == ["a", "a", "b", "b"]
    assert await claim(storage, 10, limits) == []
    await storage.finish_jobs([Outcome(first[0].lease, S.SUCCEEDED)])
    assert [j.owner for j in await claim(storage, 10, limits)] == [first[0].job.owner]


async def test_concurrent_submits_keep_the_queued_limit(settings: bb.Settings) -> None:
    app = bb.Backburner(settings=settings.model_copy(update={"owner_max_queued": 5}))

    @app.task
    async def text(ctx: bb.Context, data: dict[str, Any]) -> None:
        return None

    try:
        results = await asyncio.gather(
            *(app.submit("text", {"n": i}, owner="a") for i in range(30)), return_exceptions=True
        )
        refused = [r for r in results if isinstance(r, bb.LimitExceeded)]
        assert (len(results) - len(refused), len(refused)) == (5, 25)
        assert len((await app.list(owner="a")).jobs) == 5
        await app.submit("text", {}, owner="b")  # another owner's own limit
    finally:
        await app.close()


async def test_concurrent_submits_never_spend_the_last_credit_twice(
    settings: bb.Settings,
) -> None:
    app = bb.Backburner(settings=settings)

    @app.task(cost=1)
    async def paid(ctx: bb.Context, data: dict[str, Any]) -> None:
        return None

    try:
        await app.credits.grant("a", 5)
        results = await asyncio.gather(
            *(app.submit("paid", {"n": i}, owner="a") for i in range(30)), return_exceptions=True
        )
        refused = [r for r in results if isinstance(r, bb.InsufficientCredits)]
        assert (len(results) - len(refused), len(refused)) == (5, 25)
        balance = await app.credits.balance("a")
        assert (balance.balance, balance.reserved, balance.available) == (5, 5, 0)
    finally:
        await app.close()
