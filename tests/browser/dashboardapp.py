"""The app a real `backburner serve` loads for the dashboard tests (`test_dashboard.py`).

Its kinds wait where the tests need them to: a gated handler waits until the file named
after its job id exists in ``$DASHBOARD_GATES`` (the test creates it), so a test decides
when a job moves on, without sleeping a guessed time.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import zlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import backburner as bb

app = bb.Backburner()  # BACKBURNER_DATABASE_URL from the test

#: Seconds between steps, so a test (and a person) sees the progress bar move.
STEP_S = 0.2


def _released(ctx: bb.Context) -> bool:
    return (Path(os.environ["DASHBOARD_GATES"]) / ctx.job.id).exists()


async def _until_released(ctx: bb.Context) -> None:
    while not _released(ctx):
        await asyncio.sleep(0.05)


def _png(size: int = 48) -> str:
    """A small warm gradient as a PNG data URL (made here: no image files in the repo)."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((230, 120 + 2 * y, 40 + 3 * x)) for x in range(size))
        for y in range(size)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
    png += chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _wav(seconds: float = 0.3, rate: int = 8000) -> str:
    """A short silence as a WAV data URL."""
    frames = b"\x80" * int(seconds * rate)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate, 1, 8)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(frames)) + frames
    return (
        "data:audio/wav;base64,"
        + base64.b64encode(b"RIFF" + struct.pack("<I", len(body)) + body).decode()
    )


# ── chapter: the journaling app's card — progress steps, a partial, a paid kind ──
class ChapterIn(BaseModel):
    """A journal entry to turn into a chapter."""

    model_config = ConfigDict(extra="forbid")

    journal_entry: str = Field(
        min_length=20, title="Journal entry", description="What happened, in your own words."
    )
    tone: Literal["hopeful", "wistful", "playful"] = "hopeful"
    words: int = Field(default=400, ge=100, le=2000, description="About how long.")


class ChapterOut(BaseModel):
    """A chapter of the novel."""

    title: str
    mood: str
    content: str


@app.task(attempts=1, cost=1)
async def chapter(ctx: bb.Context, entry: ChapterIn) -> ChapterOut:
    await ctx.progress(0.1, "Reading your entry…")
    await asyncio.sleep(STEP_S)
    await ctx.partial("outline", "A quiet morning, a letter, and the sea.")
    await ctx.progress(0.4, "Crafting your chapter…")
    await _until_released(ctx)
    await ctx.progress(0.9, "Polishing the last lines…")
    await asyncio.sleep(STEP_S)
    first = entry.journal_entry.split(".")[0].strip()
    return ChapterOut(
        title="The Letter by the Sea",
        mood=entry.tone,
        content=f"{first}.\n\nThe tide came in slowly, and with it, the answer.",
    )


# ── portrait: slow after a second, an indeterminate bar, an image result ──
class PortraitStyle(BaseModel):
    """How the portrait looks."""

    model_config = ConfigDict(extra="forbid")

    palette: Literal["warm", "cold"] = "warm"
    framed: bool = True


class PortraitIn(BaseModel):
    """A character to paint."""

    model_config = ConfigDict(extra="forbid")

    character: str = Field(min_length=2, max_length=80)
    style: PortraitStyle = Field(default_factory=PortraitStyle)


@app.task(attempts=1, slow_after="1s")
async def portrait(ctx: bb.Context, data: PortraitIn) -> dict[str, Any]:
    await ctx.progress(None, "Painting the portrait…")
    await _until_released(ctx)
    return {"image": _png(), "caption": f"{data.character}, in {data.style.palette} tones"}


# ── narration: fails like a provider that is down, until its gate exists ──
class NarrationIn(BaseModel):
    """Text to read aloud."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, description="Read aloud as it is written.")


@app.task(attempts=1)
async def narration(ctx: bb.Context, data: NarrationIn) -> dict[str, Any]:
    await ctx.progress(0.2, "Recording the narration…")
    if not _released(ctx):
        raise bb.Fail(
            "voice provider answered 503 Service Unavailable", error_type="provider_error"
        )
    return {"audio": _wav()}
