"""Shared fixtures: a fresh SQLite file per test, apps on it, and waiting on state."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

import backburner as bb


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite URL for a file of this test's own."""
    return f"sqlite:///{tmp_path / 'bb.db'}"


@pytest.fixture
def settings(db_url: str) -> bb.Settings:
    """Test settings: a short lease so lost workers are noticed in seconds."""
    return bb.Settings(database_url=db_url, lease_s=2.0, grace_s=5.0)


@pytest.fixture
async def app(settings: bb.Settings) -> AsyncIterator[bb.Backburner]:
    """An app on this test's database, closed afterwards."""
    application = bb.Backburner(settings=settings)
    yield application
    await application.close()


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Wait until ``check()`` is true (polling state, not sleeping a guessed time)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def wait_status(
    app: bb.Backburner, job_id: str, status: bb.JobStatus | str, timeout: float = 10.0
) -> bb.Job:
    """Wait until the job has ``status``; return it."""

    async def check() -> bool:
        return (await app.get(job_id)).status == status

    await eventually(check, timeout)
    return await app.get(job_id)
