"""The app the CLI tests run: ``tests.cli.cliapp:app`` on ``BACKBURNER_DATABASE_URL``."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field

import backburner as bb


class EchoIn(BaseModel):
    """What to echo, and whether to fail instead."""

    text: str = Field(min_length=1)
    fail: bool = False


class EchoOut(BaseModel):
    """The text, shouted."""

    text: str


async def echo(ctx: bb.Context, data: EchoIn) -> EchoOut:
    """Report progress twice, then succeed with the text in capitals or fail if asked."""
    await ctx.progress(None, "Thinking…")
    await ctx.progress(0.5, "Halfway…")
    if data.fail:
        raise bb.Fail("asked to fail")
    return EchoOut(text=data.text.upper())


async def hold(ctx: bb.Context, data: dict[str, Any]) -> None:
    """Run until canceled (or timed out): a job to cancel while it runs."""
    await ctx.progress(None, "Holding…")
    await asyncio.Event().wait()


def create_app(database_url: str | None = None, **settings: Any) -> bb.Backburner:
    """An app with the test kinds, on ``database_url`` (else ``BACKBURNER_DATABASE_URL``)."""
    app = bb.Backburner(settings=bb.Settings.from_env(database_url=database_url, **settings))
    app.task(attempts=1)(echo)
    app.task(attempts=1, timeout="30s")(hold)
    return app


# The CLI loads apps as module:attribute, so one lives at module level (nothing connects yet).
app = create_app()
