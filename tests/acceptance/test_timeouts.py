"""Timeouts and expiry in a real worker process, including a handler that blocks the loop."""

from __future__ import annotations

from pathlib import Path

import pytest

import backburner as bb
from tests.acceptance.conftest import PATIENCE, Workers, reasons, status_events
from tests.conftest import wait_status

pytestmark = pytest.mark.slow

S = bb.JobStatus


async def test_handler_blocking_the_loop_times_out_without_losing_its_lease(
    bb_app: bb.Backburner, workers: Workers, tmp_path: Path
) -> None:
    """An ``async def`` handler calling ``time.sleep(30)`` with ``timeout="2s"`` (attempts=1)
    keeps its lease while it blocks the worker's loop (heartbeats run on their own thread),
    is interrupted, and fails with ``timeout`` within seconds; a job running beside it on
    the same worker still completes, and the worker keeps going.
    """
    blocked = await bb_app.submit("blocker", {"seconds": 30})
    beside = await bb_app.submit(
        "chatty", {"rounds": 8, "round_ms": 250, "log": str(tmp_path / "chatty.log")}
    )
    worker = workers.start(lease="1.5s")

    failed = await wait_status(bb_app, blocked.id, S.FAILED, timeout=PATIENCE)
    assert failed.error is not None and failed.error.type is bb.ErrorType.TIMEOUT
    assert failed.attempt == 1
    assert failed.started_at and failed.finished_at
    assert (failed.finished_at - failed.started_at).total_seconds() < 10  # not the 30 s sleep
    done = await wait_status(bb_app, beside.id, S.SUCCEEDED, timeout=PATIENCE)
    assert done.attempt == 1 and done.output == {"pid": worker.pid}
    for job_id in (blocked.id, beside.id):
        assert "lease_expired" not in reasons(await status_events(bb_app, job_id))

    after = await bb_app.submit("sleepy", {"ms": 10})
    await wait_status(bb_app, after.id, S.SUCCEEDED, timeout=PATIENCE)
    assert worker.alive


async def test_cooperative_timeout_and_expiry_in_a_worker_process(
    bb_app: bb.Backburner, workers: Workers
) -> None:
    """A handler sleeping past its 1 s ``timeout`` (attempts=1) fails with ``timeout``; one
    sleeping past its 2 s ``expire_after`` fails with ``expired``, both in about that time.
    """
    dawdler = await bb_app.submit("dawdler", {"seconds": 30})
    lingerer = await bb_app.submit("lingerer", {"seconds": 30})
    workers.start(lease="1.5s")

    timed_out = await wait_status(bb_app, dawdler.id, S.FAILED, timeout=PATIENCE)
    expired = await wait_status(bb_app, lingerer.id, S.FAILED, timeout=PATIENCE)
    assert timed_out.error is not None and timed_out.error.type is bb.ErrorType.TIMEOUT
    assert expired.error is not None and expired.error.type is bb.ErrorType.EXPIRED
    assert timed_out.attempt == 1 and expired.attempt == 1
    assert timed_out.started_at and timed_out.finished_at and expired.finished_at
    # The timeout counts from the attempt's start, the expiry from the submit.
    assert 0.9 < (timed_out.finished_at - timed_out.started_at).total_seconds() < 6
    assert 1.9 < (expired.finished_at - expired.created_at).total_seconds() < 8
