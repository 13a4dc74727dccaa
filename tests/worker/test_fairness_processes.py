"""Fairness, limits and credits with real worker processes, on both backends: a heavy owner's
backlog does not starve another owner; a kind's concurrency holds across processes; a worker
SIGKILLed between the charge and the finish leaves exactly one charge."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import backburner as bb
from tests.acceptance.conftest import Workers, all_jobs, wait_count, wait_idle
from tests.apps.acceptance_app import read_records
from tests.conftest import eventually, wait_status

pytestmark = pytest.mark.slow

S = bb.JobStatus


async def test_a_heavy_owners_backlog_does_not_starve_another(
    bb_app: bb.Backburner, workers: Workers
) -> None:
    """A queues 200 jobs of 300 ms on two workers of 2 slots; B submits one: it starts as
    soon as a slot frees — at most the 4 claims already under way go first — not after
    A's backlog (FIFO would start ~190 of A's jobs first)."""
    for _ in range(200):
        await bb_app.submit("sleepy", {"ms": 300}, owner="a")
    for _ in range(2):
        workers.start(concurrency=2)
    await wait_count(bb_app, S.SUCCEEDED, 4)
    b_job = await bb_app.submit("sleepy", {"ms": 10}, owner="b")
    started = await wait_status(bb_app, b_job.id, S.SUCCEEDED, timeout=30)
    assert started.started_at is not None
    jobs = await all_jobs(bb_app)
    overtaking = [
        j
        for j in jobs
        if j.owner == "a" and j.started_at and b_job.created_at < j.started_at < started.started_at
    ]
    assert len(overtaking) <= 4, [j.started_at for j in overtaking]
    assert started.started_at - b_job.created_at < timedelta(seconds=5)


async def test_a_kinds_concurrency_holds_across_worker_processes(
    bb_app: bb.Backburner, workers: Workers, tmp_path: Path
) -> None:
    """`throttled` allows 2 at once: three workers of 5 slots never run a third."""
    log = str(tmp_path / "runs.log")
    for _ in range(12):
        await bb_app.submit("throttled", {"ms": 150, "log": log}, owner="a")
    for _ in range(3):
        workers.start(concurrency=5)
    await wait_count(bb_app, S.SUCCEEDED, 12, timeout=60)
    changes = sorted(
        (int(r[4]), 1 if r[1] == "start" else -1)
        for r in read_records(log)
        if r[1] in ("start", "end")
    )
    at_once, most = 0, 0
    for _, change in changes:
        at_once += change
        most = max(most, at_once)
    assert most == 2


async def test_a_worker_killed_after_the_charge_leaves_exactly_one_charge(
    bb_app: bb.Backburner, workers: Workers
) -> None:
    """The charge is made in the claim; the worker dies mid-run; the lease expires and
    another worker finishes the job: one charge in all, no refund."""
    await bb_app.credits.grant("alice", 5)
    job = await bb_app.submit("paid_sleepy", {"ms": 3000}, owner="alice")
    doomed = workers.start(lease="1s", concurrency=2)
    await wait_status(bb_app, job.id, S.RUNNING, timeout=30)

    async def charged() -> bool:
        return (await bb_app.credits.balance("alice")).balance == 4

    await eventually(charged)
    doomed.kill()
    workers.start(lease="1s", concurrency=2)
    done = await wait_status(bb_app, job.id, S.SUCCEEDED, timeout=60)
    assert done.attempt == 2
    entries = await bb_app.credits.entries("alice")
    assert [(e.type, e.amount, e.charge_seq) for e in entries] == [
        ("charge", -1, 1),
        ("grant", 5, None),
    ]
    assert (await bb_app.credits.balance("alice")).balance == 4
    await wait_idle(bb_app)
