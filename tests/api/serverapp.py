"""The app a real `backburner serve` process loads in the server tests."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import backburner as bb

app = bb.Backburner()  # BACKBURNER_DATABASE_URL from the test


@app.task(attempts=1)
async def chapter(ctx: bb.Context, data: dict[str, Any]) -> dict[str, Any]:
    await ctx.progress(0.3, "Crafting your chapter…")
    await asyncio.sleep(float(data.get("seconds", 0.1)))
    return {"title": str(data.get("entry", ""))[:12]}


# ── a kind with a typed input model, for the bad-input tests (field paths in 422s) ──
class PortraitStyle(BaseModel):
    """How the portrait looks."""

    model_config = ConfigDict(extra="forbid")

    tone: Literal["warm", "cold"]


class PortraitIn(BaseModel):
    """A portrait request: strict, so unknown fields are refused with their path."""

    model_config = ConfigDict(extra="forbid")

    character: str = Field(min_length=3, max_length=200)
    count: int = Field(default=1, ge=1, le=4)
    style: PortraitStyle


@app.task(attempts=1)
async def portrait(ctx: bb.Context, data: PortraitIn) -> dict[str, Any]:
    return {"url": f"https://img.test/{data.character}/{data.style.tone}"}


# ── a kind with several progress steps and partial results, for the browser client tests ──
class ScenesIn(BaseModel):
    """How many scenes to render, and how long each takes."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1, le=20)
    seconds: float = Field(default=0.2, ge=0, le=10)


@app.task(attempts=1)
async def scenes(ctx: bb.Context, data: ScenesIn) -> dict[str, Any]:
    for n in range(1, data.count + 1):
        await asyncio.sleep(data.seconds)
        await ctx.partial(f"scene-{n}", f"scene {n} done")
        await ctx.progress(n / data.count, f"Rendering scene {n}/{data.count}…")
    return {"scenes": data.count}
