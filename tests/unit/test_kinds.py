"""Kinds: models from annotations, policies from user values, bad registrations refused."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field

import backburner as bb


class ChapterIn(BaseModel):
    journal_entry: str = Field(min_length=20)


class ChapterOut(BaseModel):
    title: str


def test_name_defaults_to_the_function_and_models_come_from_annotations() -> None:
    app = bb.Backburner("sqlite:///unused.db")

    @app.task(timeout="2m", attempts=5, slow_after="1m", expire_after="1h", concurrency=2, cost=3)
    async def chapter(ctx: bb.Context, entry: ChapterIn) -> ChapterOut:
        return ChapterOut(title="t")

    kind = app.kinds.get("chapter")
    p = kind.policy
    assert (p.timeout_s, p.attempts, p.slow_after_s, p.expire_after_s) == (120, 5, 60, 3600)
    assert (p.concurrency, p.cost, kind.is_async) == (2, 3, True)
    described = kind.describe()
    assert described["input_schema"]["properties"]["journal_entry"]["minLength"] == 20
    assert described["output_schema"]["required"] == ["title"]


def test_bare_decorator_sync_handler_and_explicit_name() -> None:
    app = bb.Backburner("sqlite:///unused.db")

    @app.task
    def plain(ctx: bb.SyncContext, data: dict[str, Any]) -> None:
        return None

    @app.task(name="renamed")
    async def other(ctx: bb.Context, data: int) -> int:
        return data

    assert app.kinds.names() == ["plain", "renamed"]
    assert app.kinds.get("plain").is_async is False
    assert app.kinds.get("plain").output_adapter is None


def test_duplicate_names_and_bad_policies_are_refused() -> None:
    app = bb.Backburner("sqlite:///unused.db")

    @app.task
    async def once(ctx: bb.Context, data: int) -> None: ...

    with pytest.raises(ValueError, match="already registered"):
        app.task(name="once")(once)
    with pytest.raises(bb.InvalidDuration, match="timeout"):
        app.task(timeout="soon")
    with pytest.raises(bb.ConfigError, match="attempts"):
        app.task(attempts=0)
    with pytest.raises(bb.ConfigError, match="concurrency"):
        app.task(concurrency=-1)
    with pytest.raises(TypeError, match=r"\(ctx, input\)"):
        app.task(lambda: None)


def test_unknown_kind_lists_the_known_ones() -> None:
    app = bb.Backburner("sqlite:///unused.db")

    @app.task
    async def alpha(ctx: bb.Context, data: int) -> None: ...

    with pytest.raises(bb.UnknownKind, match=r"'beta'.*alpha"):
        app.kinds.get("beta")
