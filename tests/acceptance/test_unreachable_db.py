"""A worker whose database cannot be opened yet waits for it, saying so; it never crashes."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

import backburner as bb
from tests.acceptance.conftest import PATIENCE, Workers
from tests.apps.acceptance_app import build_app
from tests.conftest import wait_status

pytestmark = pytest.mark.slow


async def test_worker_retries_an_unreachable_database_then_works(
    workers: Workers, tmp_path: Path
) -> None:
    """The database's directory does not exist: the worker logs "database unreachable"
    again and again and stays up; once the directory exists it migrates the database and
    runs a job submitted afterwards.
    """
    directory = tmp_path / "missing_dir"
    url = f"sqlite:///{directory / 'bb.db'}"
    worker = workers.start(database_url=url)
    await worker.wait_log("database unreachable", count=3, timeout=PATIENCE)
    assert worker.alive
    assert "Traceback" not in worker.log()

    directory.mkdir()
    await worker.wait_log("worker started", timeout=PATIENCE)
    assert "database migrated" in worker.log()

    app = build_app(bb.Settings(database_url=url))
    try:
        job = await app.submit("sleepy", {"ms": 10})
        done = await wait_status(app, job.id, bb.JobStatus.SUCCEEDED, timeout=PATIENCE)
    finally:
        await app.close()
    assert done.output == {"pid": worker.pid}
    worker.send(signal.SIGTERM)
    assert await worker.wait_exit() == 0
