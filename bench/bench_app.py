"""The app the benchmark's worker processes load: ``backburner worker bench.bench_app:app``.

Three kinds, each as cheap as its figure allows, so the figures measure backburner rather
than the handlers: ``noop`` (drain), ``nap`` (an awaited sleep standing in for a slow call)
and ``stamp`` (returns the wall clock at handler entry, for submit-to-start latency).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import backburner as bb

__all__ = ["app", "build_app"]


def build_app(database_url: str | None = None) -> bb.Backburner:
    """The benchmark kinds on ``database_url`` (else ``BACKBURNER_DATABASE_URL``)."""
    application = bb.Backburner(settings=bb.Settings.from_env(database_url=database_url))

    @application.task(attempts=1)
    async def noop(ctx: bb.Context, inp: dict[str, Any]) -> None:
        return None

    @application.task(attempts=1)
    async def nap(ctx: bb.Context, inp: dict[str, Any]) -> None:
        await asyncio.sleep(float(inp.get("seconds", 0.05)))

    @application.task(attempts=1)
    async def stamp(ctx: bb.Context, inp: dict[str, Any]) -> float:
        return time.time()

    return application


#: The worker's app: its database comes from ``BACKBURNER_DATABASE_URL``.
app = build_app()
