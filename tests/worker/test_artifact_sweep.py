"""Artifacts of jobs pruned by retention are deleted by the worker's maintenance; those of
jobs that still exist stay."""

from __future__ import annotations

from pathlib import Path

import backburner as bb
from tests.conftest import eventually


async def test_pruning_a_finished_job_sweeps_its_artifacts(db_url: str, tmp_path: Path) -> None:
    store = tmp_path / "artifacts"
    settings = bb.Settings(
        database_url=db_url, retention_s=0.3, maintenance_every_s=0.1, artifacts_dir=str(store)
    )
    app = bb.Backburner(settings=settings)

    @app.task
    async def drawing(ctx: bb.Context, n: int) -> str:
        return await ctx.save_artifact("drawing.png", b"png" * n, "image/png")

    other = bb.Backburner(settings=settings)  # a kind this worker does not run: stays queued

    @other.task
    async def idle(ctx: bb.Context, n: int) -> None: ...

    done = await app.submit("drawing", 3)
    waiting = await other.submit("idle", 1)
    await app.artifacts.save(waiting.id, "draft.png", b"draft", "image/png")

    async def swept() -> bool:
        return not (store / done.id).exists()

    async with app.worker(concurrency=1):
        await app.wait(done.id, timeout=10)
        assert (store / done.id / "drawing.png").read_bytes() == b"pngpngpng"
        await eventually(swept, timeout=10)
    assert (store / waiting.id / "draft.png").read_bytes() == b"draft"
    await app.close()
    await other.close()
