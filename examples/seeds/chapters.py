"""Seed 000, the journaling app: a journal entry becomes a novel chapter.

The page submits with ``Prefer: wait=30``: a chapter written within 30 s comes back at once
(``200``), as before; a slower one answers ``202`` and keeps being crafted in the background,
and the novel's page finds it by its scope (``novel:{id}``). A reply that is not the JSON
asked for is retried; after ``slow_after`` the job shows as slow, after ``expire_after`` it
fails as ``expired`` — the seed's three card states, without guessing from the row's age.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

import backburner as bb
from backburner.providers import ChatProvider

from .providers import ProviderSet

__all__ = ["ChapterIn", "ChapterOut", "add_chapter", "write_chapter"]

#: The voice the chapter is written in.
Tone = Literal["literary", "whimsical", "noir", "hopeful"]


class ChapterIn(BaseModel):
    """A journal entry to turn into the novel's next chapter."""

    journal_entry: str = Field(
        min_length=20, max_length=20_000, description="what happened today, in your words"
    )
    tone: Tone = Field(default="literary", description="the voice of the chapter")


class ChapterOut(BaseModel):
    """The chapter, as the reader shows it."""

    title: str = Field(min_length=1, max_length=200)
    mood: str = Field(min_length=1, max_length=40)
    content: str = Field(min_length=1)


SYSTEM = (
    "You are a novelist. Turn the user's journal entry into one chapter of their novel, "
    "written in the third person, keeping every real event and feeling of the entry. "
    "Give it a short title and a one-word mood."
)


async def write_chapter(chat: ChatProvider, entry: ChapterIn) -> ChapterOut:
    """One chat call, its reply validated as a `ChapterOut` (`InvalidOutput` otherwise)."""
    messages = [
        {"role": "system", "content": f"{SYSTEM} Tone: {entry.tone}."},
        {"role": "user", "content": entry.journal_entry},
    ]
    return await chat.structured(messages, ChapterOut)


def add_chapter(app: bb.Backburner, providers: ProviderSet) -> None:
    """Register ``chapter``."""

    # A model that breaks its JSON usually manages on the next try: retry soon, 3 tries.
    @app.task(timeout="2m", attempts=3, backoff="1s", slow_after="10m", expire_after="24h")
    async def chapter(ctx: bb.Context, entry: ChapterIn) -> ChapterOut:
        """Write a chapter from a journal entry."""
        await ctx.progress(None, "Crafting your chapter…")
        async with providers.open_chat() as chat:
            return await write_chapter(chat, entry)
