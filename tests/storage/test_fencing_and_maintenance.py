"""The storage seam's guarantees: fenced writes, reclaim by the database clock, pruning."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import backburner as bb
from backburner.storage import ClaimRequest, Lease, Outcome, Storage
from tests.conftest import run_sql

S = bb.JobStatus


async def _claim_one(app: bb.Backburner, worker: str = "w1", lease_s: float = 30) -> Any:
    storage = await app.open()
    claims = await storage.claim_jobs(worker, [ClaimRequest(("k",), 10)], lease_s, 10)
    assert len(claims) == 1
    return storage, claims[0]


@pytest.fixture
def registered(app: bb.Backburner) -> bb.Backburner:
    @app.task(attempts=3)
    async def k(ctx: bb.Context, data: dict[str, Any]) -> None: ...

    return app


async def test_writes_with_a_stale_lease_change_nothing(registered: bb.Backburner) -> None:
    app = registered
    job = await app.submit("k", {})
    storage, claim = await _claim_one(app)
    stale = Lease(job.id, "not-the-token")
    before = await app.events(job.id)
    with pytest.raises(bb.StorageError):
        await storage.update_progress(stale, 0.5, "hijack")
    with pytest.raises(bb.StorageError):
        await storage.set_partial(stale, "k", 1)
    with pytest.raises(bb.StorageError):
        await storage.save_step(stale, "s", 1)
    assert await storage.finish_jobs([Outcome(stale, S.SUCCEEDED, output=1)]) == [False]
    after = await app.get(job.id)
    assert (after.status, after.progress, after.partial, after.output) == (
        S.RUNNING,
        None,
        {},
        None,
    )
    assert await app.events(job.id) == before
    assert await storage.load_steps(job.id) == {}
    assert await storage.finish_jobs([Outcome(claim.lease, S.SUCCEEDED, output=1)]) == [True]
    assert (await app.get(job.id)).output == 1


async def test_expired_lease_is_reclaimed_and_the_old_holder_is_fenced(
    registered: bb.Backburner,
) -> None:
    app = registered
    job = await app.submit("k", {})
    storage, old = await _claim_one(app, lease_s=0.05)
    await asyncio.sleep(0.1)
    report = await storage.run_maintenance(retention_s=3600, limit=100)
    assert report.reclaimed == 1
    requeued = await app.get(job.id)
    assert requeued.status is S.QUEUED and requeued.attempt == 1
    last = (await app.events(job.id))[-1]
    assert last.data == {"status": "queued", "from": "running", "reason": "lease_expired"}
    _, new = await _claim_one(app, worker="w2")
    assert new.job.attempt == 2
    with pytest.raises(bb.StorageError):
        await storage.update_progress(old.lease, 0.9, "old worker")
    report = await storage.extend_leases([old.lease, new.lease], 30)
    assert report.lost == frozenset()
    # the old lease's job id is held by the new lease: only the pair with the right token counts
    assert await storage.finish_jobs([Outcome(old.lease, S.FAILED)]) == [False]
    assert (await app.get(job.id)).status is S.RUNNING


async def test_three_lease_expiries_make_worker_lost(registered: bb.Backburner) -> None:
    app = registered
    job = await app.submit("k", {})
    storage = await app.open()
    for _ in range(3):
        await _claim_one(app, lease_s=0.01)
        await asyncio.sleep(0.05)
        await storage.run_maintenance(retention_s=3600, limit=100)
    lost = await app.get(job.id)
    assert lost.status is S.FAILED
    assert lost.error is not None and lost.error.type is bb.ErrorType.WORKER_LOST


async def test_heartbeat_reports_lost_leases_and_cancels(registered: bb.Backburner) -> None:
    app = registered
    a = await app.submit("k", {})
    b = await app.submit("k", {})
    storage = await app.open()
    claims = await storage.claim_jobs("w", [ClaimRequest(("k",), 10)], 30, 10)
    leases = {c.job.id: c.lease for c in claims}
    await app.cancel(a.id)
    await app.delete(b.id)
    report = await storage.extend_leases(list(leases.values()), 30)
    assert report.cancel_requested == {a.id}
    assert report.lost == {b.id}


async def test_prune_removes_only_old_finished_jobs(registered: bb.Backburner, db_url: str) -> None:
    app = registered
    old = await app.submit("k", {})
    fresh = await app.submit("k", {})
    active = await app.submit("k", {})
    await app.cancel(old.id)
    await app.cancel(fresh.id)
    # age one finished job by 2 hours
    run_sql(db_url, "UPDATE jobs SET finished_at = finished_at - 7200 WHERE id = :id", id=old.id)
    storage: Storage = await app.open()
    report = await storage.run_maintenance(retention_s=3600, limit=100)
    assert report.pruned == 1
    remaining = {j.id for j in (await app.list()).jobs}
    assert remaining == {fresh.id, active.id}
    assert run_sql(db_url, "SELECT COUNT(*) FROM events WHERE job_id = :id", id=old.id)[0][0] == 0


async def test_release_does_not_spend_the_attempt(registered: bb.Backburner) -> None:
    app = registered
    job = await app.submit("k", {})
    storage, claim = await _claim_one(app)
    assert claim.job.attempt == 1
    assert await storage.finish_jobs([Outcome(claim.lease, S.QUEUED, release=True)]) == [True]
    back = await app.get(job.id)
    assert (back.status, back.attempt) == (S.QUEUED, 0)
    assert (await app.events(job.id))[-1].data["reason"] == "released"
