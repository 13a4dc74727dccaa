"""Seed 001, the TV-show app: a portrait and a short video per character.

- One active job per character: submit with ``dedupe_key=portrait_key(character_id)``; a
  second click, a second tab or a reloaded page gets the same job back instead of a
  duplicate — checked by the database, not by one browser's localStorage.
- "Load the show" asks for every character's portrait with ``reuse="succeeded"``: portraits
  already painted come back as they are, and only the missing ones are generated (`load_show`).
- Images and clips are saved as artifacts, served with the owner check at the URLs the
  output holds; the jobs live in the database, so a restart loses nothing.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

import backburner as bb
from backburner.providers import PredictionFailed, progress_span

from .media import artifact_name, make_clip
from .providers import ProviderSet

__all__ = [
    "Character",
    "CharacterVideoIn",
    "CharacterVideoOut",
    "PortraitIn",
    "PortraitOut",
    "add_characters",
    "load_show",
    "portrait_key",
    "video_key",
]


class Character(BaseModel):
    """A character of a show."""

    show_id: str = Field(min_length=1, max_length=64, description="the show's id")
    character_id: str = Field(min_length=1, max_length=64, description="the character's id")
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(
        min_length=3, max_length=1000, description="looks, age, clothes, personality"
    )


class PortraitIn(Character):
    """A character to paint."""

    style: str = Field(default="painterly portrait, soft light", max_length=200)


class PortraitOut(BaseModel):
    """The portrait, saved as the job's ``portrait.png`` (or ``.jpg``/``.webp``)."""

    image_url: str
    prompt: str
    revised_prompt: str | None = None


class CharacterVideoIn(Character):
    """A character to bring to life in a few seconds of video."""

    action: str = Field(default="turns toward the camera and smiles", max_length=300)


class CharacterVideoOut(BaseModel):
    """The clip, saved as the job's ``video.*`` artifact."""

    video_url: str
    prediction_id: str
    prompt: str


def portrait_key(character_id: str) -> str:
    """The dedupe key of a character's portrait: at most one active job per character."""
    return f"portrait:{character_id}"


def video_key(character_id: str) -> str:
    """The dedupe key of a character's video."""
    return f"video:{character_id}"


def add_characters(app: bb.Backburner, providers: ProviderSet) -> None:
    """Register ``portrait`` and ``character_video``."""

    @app.task(timeout="3m", attempts=3, backoff="2s")
    async def portrait(ctx: bb.Context, data: PortraitIn) -> PortraitOut:
        """Paint a character's portrait."""
        await ctx.progress(None, f"Painting {data.name}…")
        prompt = f"{data.style}. {data.name}: {data.description}"
        async with providers.open_images() as images:
            [image] = await images.generate(prompt, size=providers.image_size)
        name = artifact_name("portrait", image.media_type)
        url = await ctx.save_artifact(name, image.data, image.media_type)
        return PortraitOut(image_url=url, prompt=prompt, revised_prompt=image.revised_prompt)

    # Video models allow few generations at a time: 4 across every worker.
    @app.task(timeout="10m", attempts=3, backoff="5s", concurrency=4)
    async def character_video(ctx: bb.Context, data: CharacterVideoIn) -> CharacterVideoOut:
        """Animate a character: create a prediction, poll it, keep the clip."""
        prompt = f"{data.name}, {data.description}, {data.action}. Cinematic, 5 seconds."
        report = progress_span(ctx.progress, 0.0, 0.95, f"Filming {data.name}…")
        async with providers.open_videos() as videos:
            try:
                clip = await make_clip(ctx, videos, "video", {"prompt": prompt}, report)
            except PredictionFailed as exc:
                # Its failed predictions are steps: another attempt would only poll them again.
                raise bb.Fail(str(exc), error_type="provider_error") from exc
        return CharacterVideoOut(
            video_url=clip.video_url, prediction_id=clip.prediction_id, prompt=prompt
        )


async def load_show(client: bb.AsyncClient, characters: list[Character]) -> list[bb.Job]:
    """Ask for every character's portrait, as loading the show does: a character whose
    portrait succeeded before, or is being painted now, gets that job back; only the missing
    ones are generated (and paid for)."""
    jobs = []
    for character in characters:
        data: dict[str, Any] = PortraitIn(**character.model_dump()).model_dump()
        job = await client.submit(
            "portrait",
            data,
            scope=f"show:{character.show_id}",
            dedupe_key=portrait_key(character.character_id),
            reuse="succeeded",
        )
        jobs.append(job)
    return jobs
