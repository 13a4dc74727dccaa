"""Create-then-poll predictions against the fake: progress, backoff, errors, cancellation."""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import AsyncIterator

import pytest
from PIL import Image

from backburner.fakeprovider import FakeProvider
from backburner.providers import (
    PollPolicy,
    Prediction,
    PredictionCanceled,
    PredictionFailed,
    PredictionProvider,
    ProviderTimeout,
    ProviderUnavailable,
    progress_span,
)

QUICK = PollPolicy(first_s=0.01, factor=2, max_s=0.04)


@pytest.fixture
async def videos(fake: FakeProvider) -> AsyncIterator[PredictionProvider]:
    async with PredictionProvider(fake.config(timeout_s=2), poll=QUICK) as provider:
        yield provider


async def test_run_reports_progress_and_returns_a_clip(
    fake: FakeProvider, videos: PredictionProvider
) -> None:
    reports: list[tuple[float | None, str | None]] = []

    async def progress(fraction: float | None, message: str | None) -> None:
        reports.append((fraction, message))

    done = await videos.run({"prompt": "a blue boat on a green sea"}, on_progress=progress)
    assert done.status == "succeeded" and done.progress == 1.0
    assert reports == [
        (None, "Waiting for the provider…"),
        (0.33, "Generating…"),
        (0.66, "Generating…"),
        (1.0, "Generated"),
    ]
    clip = Image.open(io.BytesIO((await videos.request("GET", done.output)).content))
    assert (clip.format, clip.size, clip.n_frames) == ("GIF", (160, 90), 12)
    assert fake.predictions == {done.id: "succeeded"}


async def test_a_plain_function_can_take_progress(videos: PredictionProvider) -> None:
    seen: list[float | None] = []
    await videos.run({"prompt": "x"}, on_progress=lambda fraction, _: seen.append(fraction))
    assert seen == [None, 0.33, 0.66, 1.0]


async def test_polls_back_off_exponentially_up_to_the_cap(
    fake: FakeProvider, videos: PredictionProvider
) -> None:
    fake.set_knobs(prediction_steps=6)
    policy = PollPolicy(first_s=0.02, factor=2, max_s=0.08)
    await videos.run({"prompt": "slow"}, poll=policy)
    polls = [r.at for r in fake.requests if r.method == "GET"]
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert len(polls) == 6
    for gap, wanted in zip(gaps, [0.04, 0.08, 0.08, 0.08, 0.08], strict=True):
        assert wanted * 0.9 <= gap < wanted + 0.1


async def test_transient_errors_while_polling_are_absorbed(
    fake: FakeProvider, videos: PredictionProvider
) -> None:
    fake.set_knobs(fail_next=[200, 503, 429, 502], retry_after_s=0.05)
    done = await videos.run({"prompt": "flaky"})
    assert done.status == "succeeded"
    statuses = [r.status for r in fake.requests if r.method == "GET"]
    assert statuses == [503, 429, 502, 200, 200, 200]


async def test_too_many_errors_in_a_row_give_up_and_leave_it_running(
    fake: FakeProvider, videos: PredictionProvider
) -> None:
    fake.set_knobs(fail_next=[200, 503, 503, 503], retry_after_s=None)
    with pytest.raises(ProviderUnavailable):
        await videos.run({"prompt": "down"}, poll=PollPolicy(first_s=0.01, max_errors=2))
    # Left running, so that a retry that stored its id (ctx.step) can wait for it again.
    [(prediction_id, status)] = fake.predictions.items()
    assert status == "starting"
    assert (await videos.wait(Prediction(prediction_id, "starting"))).status == "succeeded"


async def test_a_failed_prediction_raises_a_retryable_error(
    fake: FakeProvider, videos: PredictionProvider
) -> None:
    fake.set_knobs(prediction_failure_rate=1.0)
    with pytest.raises(PredictionFailed, match="failed: CUDA out of memory") as caught:
        await videos.run({"prompt": "too big"})
    assert caught.value.retryable and caught.value.prediction_id in fake.predictions


async def test_cancelling_the_waiting_task_cancels_the_prediction(
    fake: FakeProvider, videos: PredictionProvider
) -> None:
    fake.set_knobs(prediction_steps=1000)
    task = asyncio.create_task(videos.run({"prompt": "forever"}))
    while fake.count("GET", "predictions") < 2:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [(prediction_id, status)] = fake.predictions.items()
    assert status == "canceled"
    assert fake.count("POST", f"predictions/{prediction_id}/cancel") == 1


async def test_a_poll_timeout_cancels_the_prediction(
    fake: FakeProvider, videos: PredictionProvider
) -> None:
    fake.set_knobs(prediction_steps=1000)
    policy = PollPolicy(first_s=0.01, max_s=0.02, timeout_s=0.2)
    with pytest.raises(ProviderTimeout, match=r"did not finish within 0\.2s"):
        await videos.run({"prompt": "forever"}, poll=policy)
    assert list(fake.predictions.values()) == ["canceled"]


async def test_a_prediction_canceled_elsewhere_is_not_retried(
    fake: FakeProvider, videos: PredictionProvider
) -> None:
    fake.set_knobs(prediction_steps=1000)
    created = await videos.create({"prompt": "x"}, version="fake/clip:1")
    assert created.raw["version"] == "fake/clip:1" and created.urls["get"].startswith(fake.url)
    await videos.cancel(created.id)  # someone else, by id
    with pytest.raises(PredictionCanceled) as caught:
        await videos.wait(created)
    assert not caught.value.retryable


async def test_progress_span_maps_onto_part_of_a_job(videos: PredictionProvider) -> None:
    seen: list[tuple[float | None, str | None]] = []
    report = progress_span(lambda f, m: seen.append((f, m)), 0.5, 0.75, "Scene 3/4…")
    await videos.run({"prompt": "scene"}, on_progress=report)
    assert [f for f, _ in seen] == [0.5, 0.5825, 0.665, 0.75]
    assert {m for _, m in seen} == {"Scene 3/4…"}
