"""Two worker processes on one SQLite file: every job runs once, on one worker at a time."""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import pytest

import backburner as bb
from tests.acceptance.conftest import (
    Workers,
    all_jobs,
    status_events,
    wait_idle,
    worker_pid,
)
from tests.apps.acceptance_app import read_records

pytestmark = pytest.mark.slow

JOBS = 2000
FOREVER = 2**63
#: Short on purpose: two busy workers contend for SQLite's write lock, and heartbeats must
#: still get through in time (SQLite's own busy handler re-polls only every 100 ms while fresh
#: writers keep winning, so backburner keeps that wait short and retries itself). A lapsed
#: lease on a healthy worker would show here as a job run twice.
LEASE = "2s"


async def test_two_workers_drain_2000_jobs_each_completing_exactly_once(
    bb_app: bb.Backburner, workers: Workers, tmp_path: Path
) -> None:
    """Two workers drain 2,000 jobs from one file: each handler completes exactly once, no
    job is ever claimed twice, no two runs of a job overlap in time, and both workers work.
    """
    log = str(tmp_path / "runs.log")
    rng = random.Random(2000)
    ids = [
        (await bb_app.submit("sleepy", {"ms": rng.randint(1, 20), "log": log})).id
        for _ in range(JOBS)
    ]
    first, second = workers.start(lease=LEASE), workers.start(lease=LEASE)
    await wait_idle(bb_app, timeout=120)

    runs: dict[str, dict[tuple[int, int], dict[str, int]]] = defaultdict(dict)
    for job_id, what, run_pid, attempt, at_ns in read_records(log):
        runs[job_id].setdefault((int(run_pid), int(attempt)), {})[what] = int(at_ns)
    assert set(runs) == set(ids)
    for job_id, by_run in runs.items():
        completions = [run for run in by_run.values() if "end" in run]
        assert len(completions) == 1, (job_id, by_run)
        # A run that never ended (none should) counts as running forever.
        assert not _overlapping([(r["start"], r.get("end", FOREVER)) for r in by_run.values()])

    jobs = await all_jobs(bb_app)
    assert len(jobs) == JOBS
    assert all(j.status is bb.JobStatus.SUCCEEDED and j.attempt == 1 for j in jobs)
    by_pid = {first.pid: 0, second.pid: 0}
    for job in jobs:
        claims = [e for e in await status_events(bb_app, job.id) if e["status"] == "running"]
        assert len(claims) == 1, (job.id, claims)
        pid = worker_pid(claims[0]["worker"])
        assert job.output == {"pid": pid} and list(runs[job.id]) == [(pid, 1)]
        by_pid[pid] += 1
    assert all(count > 0 for count in by_pid.values()), by_pid


def _overlapping(intervals: list[tuple[int, int]]) -> bool:
    """True when any two ``(start, end)`` intervals share a moment."""
    latest_end = None
    for start, end in sorted(intervals):
        if latest_end is not None and start < latest_end:
            return True
        latest_end = end if latest_end is None else max(latest_end, end)
    return False
