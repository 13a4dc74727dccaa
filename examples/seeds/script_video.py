"""Seed 002, the script-to-video studio: a storyboard, then one clip per scene.

- The storyboard is one chat call, kept as a durable step; each scene is a durable step of
  its own (`make_clip`), so a worker killed at scene 4 is followed by one that polls scene
  4's prediction where it was and goes on to scene 5: scenes 1–3 are never paid for again.
- Progress reads "Generating scene 3/7…", and every finished scene is a partial result the
  page can show before the whole video is done.
- A scene whose prediction fails does not fail the job: the output lists the failed scenes
  beside the good ones (only a job where every scene failed fails).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Literal

from pydantic import BaseModel, Field, create_model

import backburner as bb
from backburner.providers import (
    ChatProvider,
    PredictionFailed,
    PredictionProvider,
    ProviderRejected,
    progress_span,
)

from .media import make_clip
from .providers import ProviderSet

__all__ = [
    "ScenePlan",
    "SceneResult",
    "ScriptIn",
    "Storyboard",
    "VideoOut",
    "add_script_video",
    "beats",
]

#: The share of the progress bar the storyboard takes; the scenes share the rest.
_BOARD_SHARE = 0.05


class ScriptIn(BaseModel):
    """A script: a sentence or two per scene."""

    script: str = Field(min_length=60, max_length=20_000, description="the story to film")
    max_scenes: int = Field(default=7, ge=1, le=12, description="at most this many scenes")


class ScenePlan(BaseModel):
    """One scene of the storyboard."""

    visual: str = Field(min_length=1, description="what the camera sees, as a video prompt")


class Storyboard(BaseModel):
    """The storyboard: a visual style, and one plan per scene."""

    style: str = Field(min_length=1, description="the film's look, in a few words")
    scenes: list[ScenePlan]


class SceneResult(BaseModel):
    """How one scene turned out."""

    scene: int
    beat: str
    status: Literal["succeeded", "failed"]
    video_url: str | None = None
    #: The clip's media type (``video/mp4``; the fake's clips are ``image/gif``).
    content_type: str | None = None
    prediction_id: str | None = None
    error: str | None = None

    def shown(self) -> dict[str, str | None]:
        """The scene as a partial result: a clip (``url`` and ``content_type``, as pages
        show media) and its beat, or the beat and why it failed."""
        if self.status == "failed":
            return {"beat": self.beat, "error": self.error}
        return {"url": self.video_url, "content_type": self.content_type, "beat": self.beat}


class VideoOut(BaseModel):
    """Every scene, in order, and the numbers of those that failed."""

    style: str
    scenes: list[SceneResult]
    failed_scenes: list[int]


def beats(script: str, max_scenes: int) -> list[str]:
    """The script's beats, one per scene: its sentences, grouped evenly into at most
    ``max_scenes`` (the seed's fallback that always yields scenes)."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", script) if s.strip()]
    count = min(len(sentences), max_scenes)
    if count == 0:
        return [script.strip()]
    size, extra = divmod(len(sentences), count)
    groups, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        groups.append(" ".join(sentences[start:end]))
        start = end
    return groups


@cache
def storyboard_model(count: int) -> type[Storyboard]:
    """`Storyboard` with exactly ``count`` scenes: the JSON schema the model is asked for."""
    scenes = (list[ScenePlan], Field(min_length=count, max_length=count))
    return create_model("Storyboard", __base__=Storyboard, scenes=scenes)


async def write_storyboard(chat: ChatProvider, parts: list[str]) -> Storyboard:
    """One chat call: a visual style, and a shot for each beat."""
    numbered = "\n".join(f"{i}. {beat}" for i, beat in enumerate(parts, 1))
    messages = [
        {
            "role": "system",
            "content": "You are a storyboard artist. For each numbered beat, describe in one "
            f"sentence what the camera sees. Exactly {len(parts)} scenes, in order.",
        },
        {"role": "user", "content": numbered},
    ]
    return await chat.structured(messages, storyboard_model(len(parts)))


def add_script_video(app: bb.Backburner, providers: ProviderSet) -> None:
    """Register ``script_video``."""

    async def storyboard(parts: list[str]) -> Storyboard:
        async with providers.open_chat() as chat:
            return await write_storyboard(chat, parts)

    @app.task(timeout="30m", attempts=3, backoff="2s", slow_after="15m")
    async def script_video(ctx: bb.Context, data: ScriptIn) -> VideoOut:
        """Storyboard, then one clip per scene; failed scenes are listed, not fatal."""
        parts = beats(data.script, data.max_scenes)
        await ctx.progress(0.0, "Writing the storyboard…")
        board = Storyboard.model_validate(await ctx.step("storyboard", storyboard, parts))
        await ctx.partial("storyboard", board)
        async with providers.open_videos() as videos:
            scenes = [
                await _scene(ctx, videos, board, parts, number)
                for number in range(1, len(parts) + 1)
            ]
        failed = [s.scene for s in scenes if s.status == "failed"]
        if len(failed) == len(scenes):
            raise bb.Fail(f"every scene failed; scene 1: {scenes[0].error}")
        await ctx.progress(1.0, f"{len(scenes) - len(failed)} of {len(scenes)} scenes ready")
        return VideoOut(style=board.style, scenes=scenes, failed_scenes=failed)


async def _scene(
    ctx: bb.Context,
    videos: PredictionProvider,
    board: Storyboard,
    parts: list[str],
    number: int,
) -> SceneResult:
    """Scene ``number`` as a durable step, published as a partial result."""

    async def render() -> SceneResult:
        return await _render(ctx, videos, board, parts, number)

    result = SceneResult.model_validate(await ctx.step(f"scene-{number}", render))
    await ctx.partial(f"scene-{number}", result.shown())
    return result


async def _render(
    ctx: bb.Context,
    videos: PredictionProvider,
    board: Storyboard,
    parts: list[str],
    number: int,
) -> SceneResult:
    """One clip; a prediction that fails, or a prompt refused, is this scene's failure only.
    Other errors (5xx, 429, timeouts) propagate: the job is retried and resumes here."""
    total = len(parts)
    share = (1 - _BOARD_SHARE) / total
    start = _BOARD_SHARE + share * (number - 1)
    report = progress_span(
        ctx.progress, start, start + share, f"Generating scene {number}/{total}…"
    )
    prompt = {"prompt": f"{board.style}. {board.scenes[number - 1].visual}", "duration": 5}
    beat = parts[number - 1]
    try:
        clip = await make_clip(ctx, videos, f"scene-{number}", prompt, report)
    except (PredictionFailed, ProviderRejected) as exc:
        failed_id = exc.prediction_id if isinstance(exc, PredictionFailed) else None
        return SceneResult(
            scene=number, beat=beat, status="failed", prediction_id=failed_id, error=str(exc)
        )
    return SceneResult(
        scene=number,
        beat=beat,
        status="succeeded",
        video_url=clip.video_url,
        content_type=clip.content_type,
        prediction_id=clip.prediction_id,
    )
