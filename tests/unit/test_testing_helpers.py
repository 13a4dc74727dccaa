"""The helpers users get for their own tests."""

from __future__ import annotations

from pathlib import Path

import backburner as bb
from backburner.testing import run_until_idle, test_settings


async def test_run_until_idle_drains_the_queue(tmp_path: Path) -> None:
    app = bb.Backburner(settings=test_settings(tmp_path))

    @app.task
    async def add_one(ctx: bb.Context, n: int) -> int:
        return n + 1

    jobs = [await app.submit("add_one", n) for n in range(5)]
    await run_until_idle(app)
    assert [j.output for j in await app.get_many([j.id for j in jobs])] == [1, 2, 3, 4, 5]
    assert app.settings.lease_s == 2.0
    await app.close()
