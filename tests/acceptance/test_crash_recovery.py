"""Workers killed with SIGKILL: expired leases bring their jobs back, nothing is lost."""

from __future__ import annotations

import random
import signal
from collections import Counter
from functools import partial
from pathlib import Path

import pytest

import backburner as bb
from tests.acceptance.conftest import (
    PATIENCE,
    WorkerProcess,
    Workers,
    all_jobs,
    reasons,
    status_events,
    wait_count,
    wait_idle,
    worker_pid,
)
from tests.apps.acceptance_app import read_records
from tests.conftest import eventually, wait_status

pytestmark = pytest.mark.slow

S = bb.JobStatus


async def test_sigkilled_worker_loses_no_job_out_of_500(
    bb_app: bb.Backburner, workers: Workers, tmp_path: Path
) -> None:
    """500 jobs; worker A is SIGKILLed mid-run; worker B finishes every one of them.

    The jobs A held when it died come back through an expired lease (a ``lease_expired``
    requeue, then a run on B); the others ran exactly once.
    """
    log = str(tmp_path / "runs.log")
    rng = random.Random(500)
    ids = [
        (await bb_app.submit("sleepy", {"ms": rng.randint(20, 100), "log": log})).id
        for _ in range(500)
    ]
    a = workers.start(lease="2s", concurrency=10)
    await wait_count(bb_app, S.SUCCEEDED, 100)
    a.kill()
    in_flight = {j.id for j in await all_jobs(bb_app) if j.status is S.RUNNING}
    assert in_flight, "worker A held no job when it was killed"

    b = workers.start(lease="2s", concurrency=10)
    await wait_idle(bb_app, timeout=90)

    jobs = await all_jobs(bb_app)
    assert sorted(j.id for j in jobs) == sorted(ids)
    assert all(j.status is S.SUCCEEDED and j.error is None for j in jobs)
    ends = Counter(r[0] for r in read_records(log) if r[1] == "end")
    assert set(ends) == set(ids)
    for job in jobs:
        events = await status_events(bb_app, job.id)
        runners = [worker_pid(e["worker"]) for e in events if e["status"] == "running"]
        if job.id in in_flight:
            assert reasons(events) == ["submitted", "lease_expired"], events
            assert runners == [a.pid, b.pid] and job.attempt == 2
            assert job.output == {"pid": b.pid}
        else:
            assert reasons(events) == ["submitted"], events
            assert len(runners) == 1 and job.attempt == 1 and ends[job.id] == 1


async def test_durable_steps_do_not_rerun_after_sigkill(
    bb_app: bb.Backburner, workers: Workers, tmp_path: Path
) -> None:
    """Steps 1..8; the worker is SIGKILLed during step 3 or later; a second one finishes.

    Every step body ran exactly once, except the one in flight at the kill; the steps the
    first worker finished come back from storage with its pid.
    """
    log = str(tmp_path / "steps.log")
    job = await bb_app.submit("stepped", {"steps": 8, "step_ms": 300, "log": log})
    a = workers.start(lease="1.5s")

    async def in_step_three() -> bool:
        return len(read_records(log)) >= 3

    await eventually(in_step_three, timeout=PATIENCE)
    a.kill()
    by_a = [int(r[3]) for r in read_records(log)]
    assert by_a[:3] == [1, 2, 3]
    in_flight = by_a[-1]

    b = workers.start(lease="1.5s")
    done = await wait_status(bb_app, job.id, S.SUCCEEDED, timeout=PATIENCE)

    runs = [(int(r[2]), int(r[3])) for r in read_records(log)]
    counts = Counter(step for _, step in runs)
    assert set(counts) == set(range(1, 9))
    assert all(n == 1 for step, n in counts.items() if step != in_flight), runs
    assert counts[in_flight] in (1, 2)
    assert all(pid == a.pid for pid, step in runs if step < in_flight)
    assert all(pid == b.pid for pid, step in runs if step > in_flight)
    stored_pids = [s["pid"] for s in done.output["steps"]]
    assert stored_pids[: in_flight - 1] == [a.pid] * (in_flight - 1)
    assert stored_pids[in_flight:] == [b.pid] * (8 - in_flight)
    assert done.output["pid"] == b.pid
    assert reasons(await status_events(bb_app, job.id)) == ["submitted", "lease_expired"]


async def test_handler_that_kills_its_worker_ends_as_worker_lost(
    bb_app: bb.Backburner, workers: Workers
) -> None:
    """A handler that SIGKILLs its own worker every time: after 3 lease expiries the job
    fails with ``worker_lost`` instead of killing workers forever."""
    job = await bb_app.submit("crasher", {})
    deaths = 0
    for _ in range(6):
        worker = workers.start(lease="1.5s")
        await eventually(partial(_died_or_finished, bb_app, job.id, worker), timeout=PATIENCE)
        if (await bb_app.get(job.id)).finished:
            break
        assert await worker.wait_exit() == -signal.SIGKILL
        deaths += 1

    done = await bb_app.get(job.id)
    assert done.status is S.FAILED and done.error is not None
    assert done.error.type is bb.ErrorType.WORKER_LOST
    assert deaths == 3 and done.attempt == 3
    events = await status_events(bb_app, job.id)
    assert reasons(events) == ["submitted", "lease_expired", "lease_expired", "lease_expired"]
    assert [e["status"] for e in events][-1] == "failed"
    assert worker.alive, "the worker that recorded worker_lost should not have died"


async def _died_or_finished(app: bb.Backburner, job_id: str, worker: WorkerProcess) -> bool:
    return not worker.alive or (await app.get(job_id)).finished
