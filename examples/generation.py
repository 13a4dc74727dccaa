"""Example kinds modelled on real apps that hit the "AI takes minutes" wall.

- ``chapter``: a journal entry becomes a novel chapter ({title, mood, content}).
- ``script_video``: a script becomes a storyboard, then one clip per scene; every provider
  call is a durable ``ctx.step``, so a retry does not pay for the scenes already made.
- ``portrait``: a character portrait; submit it with ``dedupe_key=f"portrait:{id}"``.

Providers are simulated with ``asyncio.sleep`` (seeded random latency); no network needed.
Run a worker for them with ``backburner worker examples.generation:app``.
"""

from __future__ import annotations

import asyncio
import json
import random
import re

from pydantic import BaseModel, Field

import backburner as bb

__all__ = [
    "ChapterIn",
    "ChapterOut",
    "PortraitIn",
    "PortraitOut",
    "ScriptIn",
    "VideoOut",
    "app",
    "create_app",
]


class ChapterIn(BaseModel):
    """A journal entry to turn into a chapter."""

    journal_entry: str = Field(min_length=20)


class ChapterOut(BaseModel):
    """The chapter written from the entry."""

    title: str
    mood: str
    content: str


class ScriptIn(BaseModel):
    """A short script, a sentence or two per scene."""

    script: str = Field(min_length=60)


class Clip(BaseModel):
    """One rendered scene."""

    scene: int
    text: str
    clip_url: str


class VideoOut(BaseModel):
    """Every scene's clip and the stitched video."""

    clips: list[Clip]
    video_url: str


class PortraitIn(BaseModel):
    """A character to paint."""

    character_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    description: str = Field(min_length=3)


class PortraitOut(BaseModel):
    """The painted portrait."""

    image_url: str
    prompt: str


async def latency(seed: str, low_s: float, high_s: float) -> None:
    """Wait like a provider would: a random time between the bounds, fixed by ``seed``."""
    await asyncio.sleep(random.Random(seed).uniform(low_s, high_s))


def seed_of(ctx: bb.Context, label: str) -> str:
    """A seed from the job's kind, input and ``label``: the same latency on every run."""
    return f"{ctx.job.kind}:{json.dumps(ctx.job.input, sort_keys=True)}:{label}"


# ── chapter ───────────────────────────────────────────────────────────────
async def chapter(ctx: bb.Context, entry: ChapterIn) -> ChapterOut:
    """Write a chapter from a journal entry, publishing the draft as it grows."""
    await ctx.progress(None, "Reading your entry…")
    await latency(seed_of(ctx, "read"), 0.3, 0.6)
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", entry.journal_entry) if s]
    paragraphs: list[str] = []
    for i, sentence in enumerate(sentences[:4], 1):
        await ctx.progress(0.1 + 0.8 * (i - 1) / 4, "Crafting your chapter…")
        await latency(seed_of(ctx, f"paragraph-{i}"), 0.4, 0.8)
        paragraphs.append(f"{sentence} The afternoon held its breath around that moment.")
        await ctx.partial("draft", "\n\n".join(paragraphs))
    words = entry.journal_entry.split()
    sad = {"rain", "tired", "lost", "alone"} & {w.strip(".,!?").lower() for w in words}
    return ChapterOut(
        title=" ".join(words[:4]).strip(".,!?").title(),
        mood="melancholy" if sad else "hopeful",
        content="\n\n".join(paragraphs),
    )


# ── script_video ──────────────────────────────────────────────────────────
async def make_storyboard(script: str, seed: str) -> list[str]:
    """One scene per sentence of the script (a chat model, in a real app)."""
    await latency(seed, 0.3, 0.6)
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", script) if s.strip()]


async def render_scene(number: int, text: str, seed: str, attempt: int) -> Clip:
    """Render one scene (a video API, in a real app); scene 3 hits a 503 on the first try."""
    await latency(seed, 0.3, 0.7)
    if number == 3 and attempt == 1:
        raise bb.Retry(
            after="1s",
            reason="video provider: 503 Service Unavailable",
            error_type="provider_error",
        )
    return Clip(scene=number, text=text, clip_url=f"https://videos.example/scene-{number}.mp4")


async def script_video(ctx: bb.Context, data: ScriptIn) -> VideoOut:
    """Storyboard, then one durable step per scene: a retry replays the finished ones free."""
    await ctx.progress(None, "Writing the storyboard…")
    scenes = await ctx.step("storyboard", make_storyboard, data.script, seed_of(ctx, "board"))
    clips = []
    for i, text in enumerate(scenes, 1):
        await ctx.progress((i - 1) / len(scenes), f"Generating scene {i}/{len(scenes)}…")
        seed = seed_of(ctx, f"scene-{i}")
        clip = await ctx.step(f"scene-{i}", render_scene, i, text, seed, ctx.attempt)
        await ctx.partial(f"scene-{i}", clip)
        clips.append(Clip.model_validate(clip))
    await ctx.progress(1.0, "Stitching the video…")
    return VideoOut(clips=clips, video_url=f"https://videos.example/{ctx.job.id}.mp4")


# ── portrait ──────────────────────────────────────────────────────────────
async def portrait(ctx: bb.Context, data: PortraitIn) -> PortraitOut:
    """Create-then-poll, like prediction APIs: unknown progress first, then a percentage."""
    await ctx.progress(None, "Waiting for the image provider…")
    await latency(seed_of(ctx, "start"), 0.5, 1.0)
    if "trademarked" in data.description:
        raise bb.Fail("the image provider refused the prompt", error_type="provider_error")
    for step in range(1, 5):
        await ctx.progress(step / 5, f"Painting {data.name}…")
        await latency(seed_of(ctx, f"poll-{step}"), 0.3, 0.6)
    return PortraitOut(
        image_url=f"https://images.example/{data.character_id}.png",
        prompt=f"Portrait of {data.name}, {data.description}",
    )


def create_app(database_url: str | None = None) -> bb.Backburner:
    """An app with the example kinds on ``database_url`` (else ``BACKBURNER_DATABASE_URL``)."""
    app = bb.Backburner(database_url)
    app.task(timeout="2m", attempts=3)(chapter)
    app.task(timeout="10m", attempts=3)(script_video)
    app.task(timeout="90s", attempts=3)(portrait)
    return app


# The CLI loads apps as module:attribute; building one does not connect to anything.
app = create_app()
