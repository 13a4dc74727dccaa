"""SIGTERM stops a worker gracefully: short jobs finish, long ones go back unspent."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import backburner as bb
from tests.acceptance.conftest import PATIENCE, Workers, reasons, status_events
from tests.apps.acceptance_app import read_records
from tests.conftest import eventually, wait_status

pytestmark = pytest.mark.slow

S = bb.JobStatus
GRACE_S = 3.0


async def test_sigterm_finishes_short_jobs_and_releases_a_long_one_unspent(
    bb_app: bb.Backburner, workers: Workers, tmp_path: Path
) -> None:
    """SIGTERM while jobs run: the 1 s jobs finish within the 3 s grace period; the long job
    is put back to ``queued`` with its attempt not spent (a ``released`` event, attempt back
    to 0) and the worker exits cleanly; a restarted worker then finishes the long job.
    """
    marker = str(tmp_path / "long-once")
    short = [(await bb_app.submit("sleepy", {"ms": 1000})).id for _ in range(4)]
    long = (await bb_app.submit("long_once", {"seconds": 60, "marker": marker})).id
    worker = workers.start(grace=f"{GRACE_S:g}s")

    async def all_running() -> bool:
        jobs = await bb_app.get_many([*short, long])
        return all(j.status is S.RUNNING for j in jobs) and bool(read_records(marker))

    await eventually(all_running, timeout=PATIENCE)
    signalled_at = datetime.now(UTC)
    started = time.monotonic()
    worker.send(signal.SIGTERM)
    assert await worker.wait_exit(timeout=GRACE_S + PATIENCE) == 0
    took = time.monotonic() - started
    assert GRACE_S <= took < GRACE_S + 10, took

    for job in await bb_app.get_many(short):
        assert job.status is S.SUCCEEDED and job.attempt == 1
        assert job.finished_at is not None
        assert job.finished_at <= signalled_at + timedelta(seconds=GRACE_S)
    released = await bb_app.get(long)
    assert released.status is S.QUEUED and released.attempt == 0 and released.error is None
    assert reasons(await status_events(bb_app, long)) == ["submitted", "released"]
    assert "worker stopped" in worker.log()

    again = workers.start()
    done = await wait_status(bb_app, long, S.SUCCEEDED, timeout=PATIENCE)
    assert done.attempt == 1 and done.output == {"pid": again.pid}
    again.send(signal.SIGTERM)
    assert await again.wait_exit() == 0
