"""SQLite writers of every process take turns through ``<file>-writer.lock``."""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path
from typing import Any

import pytest

import backburner as bb

pytestmark = pytest.mark.sqlite_only


async def test_a_write_waits_for_the_file_lock_and_goes_ahead_once_it_is_released(
    tmp_path: Path,
) -> None:
    app = bb.Backburner(f"sqlite:///{tmp_path / 'jobs.db'}")

    @app.task
    async def k(ctx: bb.Context, data: dict[str, Any]) -> None: ...

    try:
        await app.submit("k", {})  # opens (and migrates) the file
        lock = tmp_path / "jobs.db-writer.lock"
        assert lock.exists()
        fd = os.open(lock, os.O_RDWR)  # another open file description: another "process"
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            waiting = asyncio.ensure_future(app.submit("k", {}))
            done, _ = await asyncio.wait([waiting], timeout=0.5)
            assert not done  # the writer waits for its turn
            reads = await app.list(limit=10)  # readers never do
            assert len(reads.jobs) == 1
            fcntl.flock(fd, fcntl.LOCK_UN)
            job = await asyncio.wait_for(waiting, 10)
        finally:
            os.close(fd)
        assert (await app.get(job.id)).status is bb.JobStatus.QUEUED
    finally:
        await app.close()
