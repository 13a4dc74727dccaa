"""Real backburner jobs (a worker, a SQLite file) whose handlers call the fake provider and
let its errors propagate: the job is retried or failed with the right error type."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

import backburner as bb
from backburner.fakeprovider import FakeProvider
from backburner.providers import ChatProvider, PollPolicy, PredictionProvider
from backburner.testing import test_settings

S = bb.JobStatus
ENTRY = "I walked in the rain to the old harbour and felt alone among the gulls."


class ChapterIn(BaseModel):
    journal_entry: str = Field(min_length=20)


class Chapter(BaseModel):
    title: str
    mood: str
    content: str


class ClipOut(BaseModel):
    url: str


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[bb.Backburner]:
    application = bb.Backburner(settings=test_settings(tmp_path))
    yield application
    await application.close()


def add_chapter_kind(
    app: bb.Backburner, chat: ChatProvider, *, attempts: int, timeout: str = "10s"
) -> None:
    @app.task(timeout=timeout, attempts=attempts, backoff=bb.RetryPolicy(base_s=0.05, jitter=0))
    async def chapter(ctx: bb.Context, entry: ChapterIn) -> Chapter:
        await ctx.progress(None, "Crafting your chapter…")
        return await chat.structured(f"Turn into a chapter: {entry.journal_entry}", Chapter)


async def run_job(app: bb.Backburner, kind: str, data: Any, timeout: float = 15) -> bb.Job:
    job = await app.submit(kind, data)
    async with app.worker():
        return await app.wait(job.id, timeout=timeout)


async def statuses(app: bb.Backburner, job_id: str) -> list[str]:
    return [e.data["status"] for e in await app.events(job_id) if e.type == "status"]


async def test_a_chapter_succeeds_after_a_503_and_a_429_honouring_retry_after(
    app: bb.Backburner, fake: FakeProvider
) -> None:
    fake.set_knobs(fail_next=[503, 429], retry_after_s=0.3)
    async with ChatProvider(fake.config(timeout_s=2)) as chat:
        add_chapter_kind(app, chat, attempts=3)
        done = await run_job(app, "chapter", {"journal_entry": ENTRY})
    assert (done.status, done.attempt, done.error) == (S.SUCCEEDED, 3, None)
    assert Chapter.model_validate(done.output).mood == "melancholy"
    assert await statuses(app, done.id) == [
        "queued", "running", "queued", "running", "queued", "running", "succeeded",
    ]  # fmt: skip
    first, second, third = fake.requests
    assert (first.status, second.status, third.status) == (503, 429, 200)
    # Retry-After (0.3 s), not the kind's 0.05 s backoff, spaced the attempts.
    assert second.at - first.at >= 0.29 and third.at - second.at >= 0.29


@pytest.mark.parametrize(
    ("knobs", "client", "attempts", "error_type", "message", "tries"),
    [
        pytest.param(
            {"error_rate": 1.0, "retry_after_s": None}, {}, 2, "provider_error",
            "ProviderUnavailable: 50", 2, id="5xx-until-attempts-run-out",
        ),
        pytest.param(
            {"rate_limit_rate": 1.0, "retry_after_s": 0.05}, {}, 2, "provider_error",
            "RateLimited: 429 Too Many Requests", 2, id="429-until-attempts-run-out",
        ),
        pytest.param(
            {"hang_rate": 1.0}, {"timeout_s": 0.2}, 2, "provider_error",
            "ProviderTimeout: no answer from", 2, id="timeouts",
        ),
        pytest.param(
            {"api_key": "sk-right"}, {"api_key": "sk-wrong"}, 3, "provider_error",
            "ProviderRejected: 401 Unauthorized", 1, id="401-at-once",
        ),
        pytest.param(
            {"fail_next": [400]}, {}, 3, "provider_error",
            "ProviderRejected: 400 Bad Request", 1, id="400-at-once",
        ),
        pytest.param(
            {"invalid_json_rate": 1.0}, {}, 2, "invalid_output",
            "InvalidOutput: the model's reply is not valid JSON", 2, id="invalid-json",
        ),
    ],
)  # fmt: skip
async def test_provider_errors_end_jobs_with_their_error_type(
    app: bb.Backburner,
    fake: FakeProvider,
    knobs: dict[str, Any],
    client: dict[str, Any],
    attempts: int,
    error_type: str,
    message: str,
    tries: int,
) -> None:
    fake.set_knobs(**knobs)
    async with ChatProvider(fake.config(**{"timeout_s": 2, **client})) as chat:
        add_chapter_kind(app, chat, attempts=attempts)
        done = await run_job(app, "chapter", {"journal_entry": ENTRY})
    assert done.status is S.FAILED and done.attempt == tries
    assert done.error is not None and done.error.type == error_type
    assert done.error.message.startswith(message), done.error.message
    assert fake.count("POST", "chat/completions") == tries


async def test_invalid_json_is_retried_and_the_next_reply_succeeds(
    app: bb.Backburner, fake: FakeProvider
) -> None:
    fake.set_knobs(invalid_json_rate=1.0)
    async with ChatProvider(fake.config(timeout_s=2)) as chat:
        add_chapter_kind(app, chat, attempts=3)
        job = await app.submit("chapter", {"journal_entry": ENTRY})
        async with app.worker():
            while (await app.get(job.id)).error is None:
                await asyncio.sleep(0.01)
            fake.set_knobs(invalid_json_rate=0.0)
            done = await app.wait(job.id, timeout=15)
    assert done.status is S.SUCCEEDED and done.attempt >= 2


async def test_a_video_job_reports_the_predictions_progress(
    app: bb.Backburner, fake: FakeProvider
) -> None:
    fake.set_knobs(prediction_steps=4)
    async with PredictionProvider(fake.config(), poll=PollPolicy(first_s=0.01)) as videos:

        @app.task(timeout="10s")
        async def clip(ctx: bb.Context, prompt: str) -> ClipOut:
            done = await videos.run({"prompt": prompt}, on_progress=ctx.progress)
            return ClipOut(url=done.output)

        done = await run_job(app, "clip", "a red kite over the dunes")
    assert done.status is S.SUCCEEDED and done.output["url"].endswith(".gif")
    progress = [e.data for e in await app.events(done.id) if e.type == "progress"]
    assert [p["progress"] for p in progress] == [None, 0.25, 0.5, 0.75, 1.0]


async def test_canceling_a_video_job_cancels_the_prediction(
    app: bb.Backburner, fake: FakeProvider
) -> None:
    fake.set_knobs(prediction_steps=100_000)
    async with PredictionProvider(fake.config(), poll=PollPolicy(first_s=0.01)) as videos:

        @app.task(timeout="30s")
        async def clip(ctx: bb.Context, prompt: str) -> ClipOut:
            done = await videos.run({"prompt": prompt}, on_progress=ctx.progress)
            return ClipOut(url=done.output)

        job = await app.submit("clip", "an endless film")
        async with app.worker():
            while fake.count("GET", "predictions") < 2:
                await asyncio.sleep(0.01)
            await app.cancel(job.id)
            done = await app.wait(job.id, timeout=10)
    assert done.status is S.CANCELED
    assert list(fake.predictions.values()) == ["canceled"]
    assert fake.count("POST", "predictions/") == 1  # the cancel
