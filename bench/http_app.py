"""The app the HTTP benchmark's server loads: ``backburner serve bench.http_app:app``.

Two kinds: ``noop`` (the submit and GET figures: the jobs never need to run) and ``ticker``
(the SSE figure): it sleeps until ``start_at`` + ``phase`` (epoch seconds), then reports
progress ``ticks`` times, ``every`` seconds apart, each message being the wall clock just
before the write (``"t=1712345678.123456"``), so a watcher on the same machine can compute
the delay from the update to its delivery.
"""

from __future__ import annotations

import asyncio
import time

from pydantic import BaseModel, Field

import backburner as bb

__all__ = ["TickerIn", "app"]

#: Its database comes from ``BACKBURNER_DATABASE_URL``, set by the benchmark.
app = bb.Backburner()


@app.task(attempts=1)
async def noop(ctx: bb.Context, inp: dict[str, object]) -> None:
    """Does nothing: the submit and GET figures measure the API, not handlers."""
    return None


class TickerIn(BaseModel):
    """When to start ticking (epoch seconds plus this job's phase), how often and how long."""

    start_at: float
    phase: float = Field(default=0.0, ge=0)
    every: float = Field(default=1.0, gt=0, le=60)
    ticks: int = Field(default=5, ge=1, le=10_000)


@app.task(attempts=1, timeout="1h")
async def ticker(ctx: bb.Context, inp: TickerIn) -> int:
    """Report ``ticks`` progress updates on a fixed schedule, each stamped with its write time."""
    first = inp.start_at + inp.phase
    for tick in range(inp.ticks):
        delay = first + tick * inp.every - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await ctx.progress((tick + 1) / inp.ticks, f"t={time.time():.6f}")
    return inp.ticks
