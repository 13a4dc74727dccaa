"""SQLite's inline `get_job` (`storage/sqlite_reads.py`) answers exactly what the pooled read
does, for jobs in every state and shape."""

from __future__ import annotations

from typing import Any

import pytest

import backburner as bb
from backburner.storage import ClaimRequest, Outcome, queries
from backburner.storage.sqlite import SqliteStorage

pytestmark = pytest.mark.sqlite_only
S = bb.JobStatus


async def test_inline_reads_equal_the_pooled_read(app: bb.Backburner) -> None:
    @app.task
    async def echo(ctx: bb.Context, data: dict[str, Any]) -> dict[str, Any]:
        return data

    storage = await app.open()
    assert isinstance(storage, SqliteStorage)
    webhook = {"url": "http://127.0.0.1:9/hook", "events": ["succeeded"]}
    app.settings = app.settings.model_copy(update={"webhook_allow": ("127.0.0.1",)})
    jobs = [
        await app.submit("echo", {}, owner="a"),
        await app.submit("echo", {"text": "é ✓", "n": [1, None]}, owner="a", scope="s"),
        await app.submit("echo", {}, owner="a", dedupe_key="d", priority=5, webhook=webhook),
    ]
    claims = await storage.claim_jobs("w", [ClaimRequest(("echo",), 2)], 30.0, 2)
    await storage.set_partial(claims[0].lease, "scene-1", {"url": "x"})
    await storage.finish_jobs([Outcome(claims[1].lease, S.SUCCEEDED, output=1.5)])
    await app.cancel(jobs[2].id)
    jobs.append(await app.submit("echo", {"n": 1}, owner="b"))
    claimed = await storage.claim_jobs("w", [ClaimRequest(("echo",), 1)], 30.0, 1)
    await storage.finish_jobs([Outcome(claimed[0].lease, S.SUCCEEDED, output="text")])
    for job in jobs:
        pooled = await storage._read(queries.get_job, job.id)
        assert await storage.get_job(job.id) == pooled
    assert await storage.get_job("no-such-id") is None
