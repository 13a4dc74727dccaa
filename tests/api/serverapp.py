"""The app a real `backburner serve` process loads in the server tests."""

from __future__ import annotations

import asyncio
from typing import Any

import backburner as bb

app = bb.Backburner()  # BACKBURNER_DATABASE_URL from the test


@app.task(attempts=1)
async def chapter(ctx: bb.Context, data: dict[str, Any]) -> dict[str, Any]:
    await ctx.progress(0.3, "Crafting your chapter…")
    await asyncio.sleep(float(data.get("seconds", 0.1)))
    return {"title": str(data.get("entry", ""))[:12]}
