"""Seed 004, the audiobook app: a chapter read aloud, one job per (novel, chapter).

- Submitted with ``dedupe_key=audio_key(novel_id, chapter_number)``: clicking again, or a
  second device, gets the same job; the page finds it with ``GET /v1/jobs?dedupe_key=…``
  (the seed's progress row per novel and chapter).
- The job runs on a worker, not in the request that asked for it: closing the browser (or a
  request that gives up) does not stop it.
- Speech APIs read a few thousand characters at a time: the chapter is read in parts, each a
  durable step saved as an artifact, then stitched into ``chapter.wav``.
"""

from __future__ import annotations

import io
import re
import wave
from typing import Literal

from pydantic import BaseModel, Field

import backburner as bb

from .providers import ProviderSet

__all__ = [
    "ChapterAudioIn",
    "ChapterAudioOut",
    "add_chapter_audio",
    "audio_key",
    "split_text",
    "stitch_wavs",
]

#: The most characters one speech request reads (OpenAI's limit is 4,096); read when a job
#: runs, so a test may lower it.
MAX_PART_CHARS = 4000


class ChapterAudioIn(BaseModel):
    """A chapter to read aloud."""

    novel_id: str = Field(min_length=1, max_length=64)
    chapter_number: int = Field(ge=1, le=10_000)
    title: str = Field(default="", max_length=200)
    text: str = Field(min_length=1, max_length=200_000, description="the chapter's text")
    voice: Literal["alloy", "echo", "fable", "onyx", "nova", "shimmer"] = "nova"


class AudioPart(BaseModel):
    """One part of the chapter, read and saved."""

    part: int
    audio_url: str
    duration_s: float


class ChapterAudioOut(BaseModel):
    """The whole chapter's audio (``chapter.wav``), and how many parts it was read in
    (``part-1.wav`` …, the partial results)."""

    audio_url: str
    duration_s: float
    parts: int


def audio_key(novel_id: str, chapter_number: int) -> str:
    """The dedupe key of a chapter's audio: one job per (novel, chapter)."""
    return f"audio:{novel_id}:{chapter_number}"


def split_text(text: str, limit: int = MAX_PART_CHARS) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, cut between paragraphs or
    sentences where it can be (a sentence longer than ``limit`` is cut anywhere)."""
    pieces = [p for p in re.split(r"(?<=[.!?])\s+|\n\s*\n", text.strip()) if p.strip()]
    parts: list[str] = []
    for piece in pieces:
        while len(piece) > limit:
            parts.append(piece[:limit])
            piece = piece[limit:]
        if parts and len(parts[-1]) + 1 + len(piece) <= limit:
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    return parts or [text[:limit]]


def wav_duration_s(data: bytes) -> float:
    """How long a WAV file plays."""
    with wave.open(io.BytesIO(data)) as reader:
        return float(reader.getnframes() / reader.getframerate())


def stitch_wavs(files: list[bytes]) -> bytes:
    """One WAV of ``files`` played one after the other (they share one format, as parts read
    by one voice do)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        for index, data in enumerate(files):
            with wave.open(io.BytesIO(data)) as reader:
                if index == 0:
                    writer.setparams(reader.getparams())
                elif reader.getparams()[:3] != writer.getparams()[:3]:
                    raise bb.Fail("the parts' audio formats differ; cannot stitch them")
                writer.writeframes(reader.readframes(reader.getnframes()))
    return out.getvalue()


def add_chapter_audio(app: bb.Backburner, providers: ProviderSet) -> None:
    """Register ``chapter_audio``."""

    async def read_part(ctx: bb.Context, data: ChapterAudioIn, number: int, text: str) -> AudioPart:
        async with providers.open_speech() as speech:
            audio = await speech.synthesize(text, voice=data.voice, response_format="wav")
        url = await ctx.save_artifact(f"part-{number}.wav", audio, "audio/wav")
        return AudioPart(part=number, audio_url=url, duration_s=wav_duration_s(audio))

    @app.task(timeout="20m", attempts=3, backoff="2s")
    async def chapter_audio(ctx: bb.Context, data: ChapterAudioIn) -> ChapterAudioOut:
        """Read a chapter aloud, part by part, then stitch the parts."""
        text = f"{data.title}.\n\n{data.text}" if data.title else data.text
        texts = split_text(text, MAX_PART_CHARS)
        parts = []
        for number, part in enumerate(texts, 1):
            await ctx.progress((number - 1) / len(texts), f"Reading part {number}/{len(texts)}…")
            stored = await ctx.step(f"part-{number}", read_part, ctx, data, number, part)
            parts.append(AudioPart.model_validate(stored))
            # Playable at once: a page shows ``{url, content_type}`` as a player.
            shown = {"url": parts[-1].audio_url, "content_type": "audio/wav"}
            await ctx.partial(f"part-{number}", shown)
        await ctx.progress(0.99, "Stitching the chapter…")
        # Parts come back from the artifact store, so a retry after a crash can stitch too.
        files = [(await app.artifacts.read(ctx.job.id, f"part-{p.part}.wav")).data for p in parts]
        whole = stitch_wavs(files)
        url = await ctx.save_artifact("chapter.wav", whole, "audio/wav")
        return ChapterAudioOut(audio_url=url, duration_s=wav_duration_s(whole), parts=len(parts))
