"""Error classification and reply parsing as pure functions: no server."""

from __future__ import annotations

import email.utils
import json

import httpx
import pytest

from backburner.providers import (
    InvalidOutput,
    PollPolicy,
    Prediction,
    ProviderConfig,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    parse_json_reply,
    parse_retry_after,
    poll_delays,
)
from backburner.providers.errors import error_for_response, provider_message

NOW = 1_700_000_000.0


def answer(status: int, body: object = None, **headers: str) -> httpx.Response:
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions?x=1")
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"retry-after": email.utils.formatdate(NOW - 30, usegmt=True)}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
    ],
)
def test_retry_after_reads_seconds_dates_and_milliseconds(
    headers: dict[str, str], expected: float | None
) -> None:
    assert parse_retry_after(httpx.Headers(headers), now=NOW) == expected


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (429, RateLimited, True),
        (500, ProviderUnavailable, True),
        (502, ProviderUnavailable, True),
        (503, ProviderUnavailable, True),
        (408, ProviderTimeout, True),
        (400, ProviderRejected, False),
        (401, ProviderRejected, False),
        (404, ProviderRejected, False),
        (422, ProviderRejected, False),
    ],
)
def test_statuses_map_to_error_classes(status: int, kind: type, retryable: bool) -> None:
    error = error_for_response(answer(status, {"error": {"message": "nope"}}))
    assert type(error) is kind
    assert error.retryable is retryable and error.status == status
    assert error.error_type == "provider_error"
    assert str(error).startswith(f"{status} ")
    assert "http://127.0.0.1:9/v1/chat/completions:" in str(error)  # the query is left out
    assert str(error).endswith("nope")


def test_an_exhausted_quota_is_not_retried() -> None:
    body = {"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}}
    error = error_for_response(answer(429, body))
    assert type(error) is ProviderRejected and not error.retryable


def test_rate_limit_carries_its_retry_after() -> None:
    error = error_for_response(
        answer(429, {"error": {"message": "slow down"}}, **{"retry-after": "2"})
    )
    assert error.retry_after_s == 2.0
    assert "slow down (retry after 2s)" in str(error)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}},
         "Incorrect API key provided"),
        ({"detail": "Prediction not found.", "title": "Not Found"}, "Prediction not found."),
        ({"detail": [{"loc": ["body", "n"], "msg": "too big"}]}, "too big"),
        ({"message": "model is loading"}, "model is loading"),
        ({"error": "overloaded"}, "overloaded"),
        ("<html><body><h1>502 Bad Gateway</h1></body></html>", "502 Bad Gateway"),
        ("", "(empty body)"),
    ],
)  # fmt: skip
def test_provider_message_finds_the_providers_words(body: object, expected: str) -> None:
    headers = {"content-type": "text/html"} if isinstance(body, str) else {}
    assert provider_message(answer(400, body, **headers)) == expected


def test_a_long_error_body_is_clipped() -> None:
    assert len(provider_message(answer(500, "x" * 5000))) == 500


@pytest.mark.parametrize(
    "reply",
    [
        '{"title": "A", "n": 1}',
        '```json\n{"title": "A", "n": 1}\n```',
        'Sure! Here it is:\n\n```json\n{"title": "A", "n": 1}\n```\nEnjoy.',
        '```\n{"title": "A", "n": 1}\n```',
        'Here you go: {"title": "A", "n": 1} — hope it helps',
        '<think>they want JSON {maybe}</think>\n{"title": "A", "n": 1}',
    ],
)
def test_json_replies_are_found_in_fences_and_prose(reply: str) -> None:
    assert parse_json_reply(reply) == {"title": "A", "n": 1}


@pytest.mark.parametrize("reply", ["", "I cannot help with that.", '{"title": "A", "n":'])
def test_non_json_replies_raise(reply: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        parse_json_reply(reply)


def test_invalid_output_is_retryable_with_its_own_error_type() -> None:
    error = InvalidOutput("bad", raw="{oops")
    assert (error.error_type, error.retryable, error.raw) == ("invalid_output", True, "{oops")


def test_poll_delays_grow_and_are_capped() -> None:
    delays = poll_delays(PollPolicy(first_s=1, factor=2, max_s=5))
    assert [next(delays) for _ in range(6)] == [1, 2, 4, 5, 5, 5]


@pytest.mark.parametrize(
    ("body", "progress"),
    [
        ({"id": "p", "status": "starting"}, None),
        ({"id": "p", "status": "processing", "logs": "10%|█ | 1/10\n 45%|████ | 9/20"}, 0.45),
        ({"id": "p", "status": "processing", "progress": 0.3}, 0.3),
        ({"id": "p", "status": "processing", "progress": 60}, 0.6),
        ({"id": "p", "status": "succeeded"}, 1.0),
        ({"id": "p", "state": "completed"}, 1.0),
    ],
)
def test_prediction_progress_from_field_or_logs(body: dict[str, object], progress: float) -> None:
    assert Prediction.from_json(body).progress == progress


def test_a_prediction_answer_without_id_is_invalid_output() -> None:
    with pytest.raises(InvalidOutput, match="no id or status"):
        Prediction.from_json({"status": "starting"})


def test_config_from_env_reads_a_prefix() -> None:
    env = {
        "NVIDIA_BASE_URL": "https://integrate.api.nvidia.com/v1",
        "NVIDIA_API_KEY": "nv-secret",
        "NVIDIA_MODEL": "stepfun-ai/step-3.5-flash",
        "NVIDIA_TIMEOUT_S": "90",
    }
    config = ProviderConfig.from_env("NVIDIA", environ=env)
    assert (config.base_url, config.api_key, config.model, config.timeout_s) == (
        "https://integrate.api.nvidia.com/v1", "nv-secret", "stepfun-ai/step-3.5-flash", 90.0,
    )  # fmt: skip
    assert "nv-secret" not in repr(config)
    replicate = ProviderConfig.from_env("REPLICATE", environ={"REPLICATE_API_TOKEN": "r8"})
    assert replicate.api_key == "r8" and replicate.base_url == "https://api.openai.com/v1"
