"""The worker registry from the worker's side: a worker's row appears when it starts, its
heartbeat refreshes it (idle too) with the jobs it holds, and a clean stop stamps it."""

from __future__ import annotations

import asyncio
import signal
import socket
from typing import Any

import pytest

import backburner as bb
from backburner.storage.workers_sql import WorkerStatus
from tests.acceptance.conftest import Workers
from tests.conftest import eventually, wait_status


async def registered(app: bb.Backburner, worker_id: str) -> WorkerStatus | None:
    found = [w for w in await (await app.open()).list_workers(100) if w.info.id == worker_id]
    return found[0] if found else None


async def test_a_worker_registers_heartbeats_while_idle_and_busy_and_stops(
    app: bb.Backburner,
) -> None:
    @app.task(attempts=1)
    async def nap(ctx: bb.Context, data: dict[str, Any]) -> None:
        await asyncio.sleep(30)

    async with app.worker(concurrency=3) as worker:
        await eventually(lambda: _exists(app, worker.id))
        first = await registered(app, worker.id)
        assert first is not None and first.alive and first.running == 0
        assert (first.info.host, first.info.kinds, first.info.concurrency) == (
            socket.gethostname(),
            ("nap",),
            3,
        )

        async def beaten() -> bool:  # idle: nothing to extend, the row is refreshed anyway
            now = await registered(app, worker.id)
            return now is not None and now.heartbeat_at > first.heartbeat_at

        await eventually(beaten, timeout=5)
        job = await app.submit("nap", {})
        await wait_status(app, job.id, "running")

        async def holding() -> bool:
            now = await registered(app, worker.id)
            return now is not None and now.running == 1

        await eventually(holding, timeout=5)
        await app.cancel(job.id)
    stopped = await registered(app, worker.id)
    assert stopped is not None and stopped.stopped_at is not None
    assert (stopped.running, stopped.alive) == (0, False)


async def _exists(app: bb.Backburner, worker_id: str) -> bool:
    return await registered(app, worker_id) is not None


@pytest.mark.slow
async def test_a_worker_process_registers_and_stamps_its_clean_stop(
    bb_app: bb.Backburner, workers: Workers
) -> None:
    process = workers.start(lease="1s")
    await process.wait_log("worker started")
    [row] = await (await bb_app.open()).list_workers(10)
    assert (row.info.pid, row.info.host, row.alive) == (process.pid, socket.gethostname(), True)
    assert row.info.id.split(":")[-2] == str(process.pid) and row.info.lease_s == 1.0
    assert set(row.info.kinds) == {k.name for k in bb_app.kinds}
    process.send(signal.SIGTERM)
    assert await process.wait_exit() == 0
    [stopped] = await (await bb_app.open()).list_workers(10)
    assert stopped.stopped_at is not None and not stopped.alive
