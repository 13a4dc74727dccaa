"""Group commit on SQLite: concurrent writes share transactions, and a failing one fails alone."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import backburner as bb
from backburner.storage import group_commit


async def test_concurrent_writes_share_commits_and_a_failure_stays_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    commit = group_commit.GroupCommitter._commit

    def counted(self: group_commit.GroupCommitter, batch: list[Any]) -> None:
        sizes.append(len(batch))
        commit(self, batch)

    monkeypatch.setattr(group_commit.GroupCommitter, "_commit", counted)
    app = bb.Backburner(f"sqlite:///{tmp_path / 'g.db'}")

    @app.task
    async def echo(ctx: bb.Context, data: dict[str, int]) -> None: ...

    done = await app.submit("echo", {"n": -1})
    await app.cancel(done.id)
    calls = [app.submit("echo", {"n": n}, dedupe_key=f"k{n % 50}") for n in range(100)]
    calls += [app.cancel(done.id) for _ in range(5)]  # already canceled: each must fail
    results = await asyncio.gather(*calls, return_exceptions=True)
    jobs, refusals = results[:100], results[100:]
    assert all(isinstance(r, bb.InvalidTransition) for r in refusals)
    assert all(isinstance(j, bb.Job) for j in jobs)
    made = {j.id for j in jobs if isinstance(j, bb.Job)}
    assert len(made) == 50  # the dedupe keys held inside shared transactions too
    stored = (await app.list(status="queued", limit=1000)).jobs
    assert {j.id for j in stored} == made
    assert max(sizes) > 1 and sum(sizes) >= 107  # writes were committed together
    await app.close()


async def test_callers_that_give_up_do_not_stop_the_writer(tmp_path: Path) -> None:
    app = bb.Backburner(f"sqlite:///{tmp_path / 'g.db'}")

    @app.task
    async def echo(ctx: bb.Context, data: dict[str, int]) -> None: ...

    await app.open()
    for _ in range(5):
        tasks = [asyncio.ensure_future(app.submit("echo", {"n": n})) for n in range(40)]
        await asyncio.sleep(0)  # the writes are queued, some already running
        for task in tasks[::2]:
            task.cancel()  # callers that give up (a worker stopping, a client gone)
        await asyncio.gather(*tasks, return_exceptions=True)
    after = await asyncio.wait_for(app.submit("echo", {"n": -1}), timeout=10)
    assert (await app.get(after.id)).status is bb.JobStatus.QUEUED
    await app.close()
