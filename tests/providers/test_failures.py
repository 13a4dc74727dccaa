"""Every error class, from a real fake provider over loopback HTTP."""

from __future__ import annotations

import json
import socket
import time

import pytest
from pydantic import BaseModel, Field

from backburner.fakeprovider import FakeProvider, start_fake_provider
from backburner.providers import (
    ChatProvider,
    InvalidOutput,
    PredictionProvider,
    ProviderConfig,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)


class Chapter(BaseModel):
    title: str
    mood: str
    content: str


async def test_a_hang_is_a_retryable_timeout(fake: FakeProvider) -> None:
    fake.set_knobs(fail_next=["hang"])
    started = time.monotonic()
    async with ChatProvider(fake.config(timeout_s=0.3)) as chat:
        with pytest.raises(ProviderTimeout, match=r"no answer from .* in time") as caught:
            await chat.complete("Hello")
        assert time.monotonic() - started < 2
        assert caught.value.retryable and caught.value.error_type == "provider_error"
        assert await chat.complete("Hello again")  # the next request is answered


async def test_connection_refused_is_retryable_unavailable() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago, now closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with ChatProvider(ProviderConfig(base_url=f"http://127.0.0.1:{port}/v1")) as chat:
        with pytest.raises(ProviderUnavailable, match=r"cannot reach .*ConnectError") as caught:
            await chat.complete("Hello")
    assert caught.value.retryable and caught.value.status is None


async def test_429_carries_retry_after_seconds(fake: FakeProvider, chat: ChatProvider) -> None:
    fake.set_knobs(fail_next=[429], retry_after_s=3)
    with pytest.raises(RateLimited) as caught:
        await chat.complete("Hello")
    error = caught.value
    assert (error.status, error.retry_after_s, error.retryable) == (429, 3.0, True)
    assert "Rate limit reached" in str(error)


async def test_429_carries_retry_after_as_an_http_date(
    fake: FakeProvider, chat: ChatProvider
) -> None:
    fake.set_knobs(fail_next=[429], retry_after_s=5, retry_after_http_date=True)
    with pytest.raises(RateLimited) as caught:
        await chat.complete("Hello")
    assert caught.value.retry_after_s is not None and 3 <= caught.value.retry_after_s <= 6


@pytest.mark.parametrize("status", [502, 503])
async def test_502_and_503_are_retryable(
    fake: FakeProvider, chat: ChatProvider, status: int
) -> None:
    fake.set_knobs(fail_next=[status])
    with pytest.raises(ProviderUnavailable) as caught:
        await chat.complete("Hello")
    assert caught.value.status == status and caught.value.retryable
    expected = "Bad Gateway nginx" if status == 502 else "overloaded or not ready"
    assert expected in str(caught.value)
    assert (await chat.complete("Hello")).strip()
    assert [r.status for r in fake.requests] == [status, 200]


async def test_401_is_permanent_with_the_providers_message() -> None:
    with start_fake_provider(api_key="sk-right") as fake:
        async with ChatProvider(fake.config(api_key="sk-wrong")) as chat:
            with pytest.raises(ProviderRejected) as caught:
                await chat.complete("Hello")
        async with ChatProvider(fake.config()) as chat:
            assert await chat.complete("Hello")
    assert caught.value.status == 401 and not caught.value.retryable
    assert "Incorrect API key provided" in str(caught.value)
    assert "sk-wrong" not in str(caught.value)


async def test_400_for_a_bad_request_names_the_field(chat: ChatProvider) -> None:
    with pytest.raises(ProviderRejected, match=r"400 Bad Request .*messages") as caught:
        await chat.complete([])
    assert not caught.value.retryable


async def test_404_for_an_unknown_prediction_is_permanent(fake: FakeProvider) -> None:
    async with PredictionProvider(fake.config()) as predictions:
        with pytest.raises(ProviderRejected, match="Prediction nope not found") as caught:
            await predictions.get("nope")
    assert caught.value.status == 404


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_injected_client_errors_are_permanent(
    fake: FakeProvider, chat: ChatProvider, status: int
) -> None:
    fake.set_knobs(fail_next=[status])
    with pytest.raises(ProviderRejected) as caught:
        await chat.complete("Hello")
    assert caught.value.status == status and not caught.value.retryable


async def test_invalid_json_is_retryable_and_keeps_the_raw_reply(
    fake: FakeProvider, chat: ChatProvider
) -> None:
    fake.set_knobs(invalid_json_rate=1.0)
    with pytest.raises(InvalidOutput, match="not valid JSON") as caught:
        await chat.structured("I walked along the harbour at dawn", Chapter)
    error = caught.value
    assert error.retryable and error.error_type == "invalid_output"
    assert error.raw.startswith("Here is the chapter you asked for:\n{")
    # The error record says why and quotes the reply.
    assert "is not valid JSON (" in str(error)
    assert 'the reply: \'Here is the chapter you asked for:\\n{"title": ' in str(error)


async def test_a_reply_that_fails_validation_is_retryable_and_keeps_the_raw_text(
    chat: ChatProvider,
) -> None:
    class Numbered(BaseModel):
        # The fake fills in the schema's fields but knows nothing of patterns.
        title: str = Field(pattern=r"^Chapter \d+: ")
        content: str

    with pytest.raises(
        InvalidOutput, match=r"does not match Numbered \(title: String should"
    ) as caught:
        await chat.structured("I walked along the harbour at dawn", Numbered)
    error = caught.value
    assert error.retryable and error.error_type == "invalid_output"
    assert json.loads(error.raw)["content"]  # the raw reply: valid JSON, the wrong shape
