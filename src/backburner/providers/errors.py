"""What goes wrong talking to an AI provider, and how the worker should treat each case.

```
ProviderError                    error type provider_error
 ├── ProviderTimeout             no answer in time (connect, read, write, pool)    retried
 ├── ProviderUnavailable         connection refused or reset, 5xx, a garbled answer retried
 ├── RateLimited                 429; ``retry_after_s`` from Retry-After            retried then
 ├── ProviderRejected            any other 4xx: the request itself is wrong         never retried
 ├── InvalidOutput               not JSON, or not the expected shape (``raw`` kept) retried;
 │                               error type invalid_output
 └── PredictionFailed            a create-then-poll prediction ended ``failed``     retried
      └── PredictionCanceled     … or ``canceled`` by someone else                  never retried
```

A handler lets these propagate: the worker reads ``error_type``, ``retryable`` and
``retry_after_s`` off the exception (docs/errors.md), so the job is retried when it should be,
after the provider's ``Retry-After`` when it gave one, and its error record reads
``RateLimited: 429 from …: <the provider's own message>``.

The helpers below are pure: they turn an `httpx` response or exception into one of these.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from typing import Any, ClassVar

import httpx

from ..errors import BackburnerError

__all__ = [
    "InvalidOutput",
    "PredictionCanceled",
    "PredictionFailed",
    "ProviderError",
    "ProviderRejected",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "clip",
    "error_for_response",
    "error_for_transport",
    "parse_retry_after",
    "provider_message",
]

#: How much of a provider's error body or a model's reply an error message quotes.
_QUOTE_CHARS = 500


class ProviderError(BackburnerError):
    """The AI provider failed."""

    #: The job's error type when this ends it (one of `backburner.ErrorType`).
    error_type: ClassVar[str] = "provider_error"
    #: Whether another attempt may succeed; the worker fails the job at once when False.
    retryable: ClassVar[bool] = True

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        #: The HTTP status the provider answered with, if it answered.
        self.status = status
        #: Seconds the provider asked us to wait (``Retry-After``); the worker honours it.
        self.retry_after_s = retry_after_s


class ProviderTimeout(ProviderError):
    """The AI provider did not answer in time."""


class ProviderUnavailable(ProviderError):
    """The AI provider cannot be reached or is failing (5xx)."""


class RateLimited(ProviderError):
    """The AI provider is rate limiting us (429)."""


class ProviderRejected(ProviderError):
    """The AI provider refused the request (4xx); retrying the same request will not help."""

    retryable: ClassVar[bool] = False


class InvalidOutput(ProviderError):
    """The AI provider's reply is not what was asked for (invalid JSON, a wrong shape)."""

    error_type: ClassVar[str] = "invalid_output"

    def __init__(self, message: str | None = None, *, raw: str = "") -> None:
        super().__init__(message)
        #: The reply exactly as it came, for the error record and debugging.
        self.raw = raw


class PredictionFailed(ProviderError):
    """The provider's prediction ended in failure."""

    def __init__(self, message: str | None = None, *, prediction_id: str = "") -> None:
        super().__init__(message)
        #: The provider's id of the prediction.
        self.prediction_id = prediction_id


class PredictionCanceled(PredictionFailed):
    """The provider's prediction was canceled, not by us."""

    retryable: ClassVar[bool] = False


def error_for_transport(exc: httpx.TransportError, url: str) -> ProviderError:
    """The provider error for a request that got no answer: a timeout or a broken connection."""
    name = type(exc).__name__
    detail = f"{name}: {exc}" if str(exc) and str(exc) != name else name
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeout(f"no answer from {url} in time ({detail})")
    return ProviderUnavailable(f"cannot reach {url} ({detail})")


def error_for_response(response: httpx.Response, now: float | None = None) -> ProviderError:
    """The provider error for an unsuccessful answer: 429, 5xx and 408 are retryable; other
    4xx are not, nor is OpenAI's 429 ``insufficient_quota`` (billing, not load). The message
    names the status and URL and quotes the provider's message."""
    status = response.status_code
    retry_after = parse_retry_after(response.headers, now)
    origin = f"{status} {response.reason_phrase} from {_url_of(response)}"
    text = f"{origin}: {provider_message(response)}"
    if retry_after is not None:
        text += f" (retry after {retry_after:g}s)"
    if status == 429 and _error_code(response) != "insufficient_quota":
        return RateLimited(text, status=status, retry_after_s=retry_after)
    if status == 408:
        return ProviderTimeout(text, status=status, retry_after_s=retry_after)
    if status >= 500:
        return ProviderUnavailable(text, status=status, retry_after_s=retry_after)
    return ProviderRejected(text, status=status)


def parse_retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (OpenAI) or ``Retry-After`` (seconds or an
    HTTP-date), never negative; ``None`` when absent or unreadable."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        seconds = _number(millis)
        if seconds is not None:
            return seconds / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def provider_message(response: httpx.Response) -> str:
    """The provider's own words about an error: OpenAI's ``error.message``, Replicate's or
    FastAPI's ``detail``, a ``message``, or the body's text (HTML tags removed), clipped."""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    found = _message_in(body) if body is not None else None
    if found is None:
        text = response.text
        if "html" in response.headers.get("content-type", ""):
            text = re.sub(r"<[^>]+>", " ", text)
        found = " ".join(text.split()) or "(empty body)"
    return clip(found)


def clip(text: str, limit: int = _QUOTE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, marked with … when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _message_in(body: Any) -> str | None:
    if isinstance(body, str):
        return body
    if not isinstance(body, dict):
        return None
    for key in ("error", "detail", "message", "msg", "title"):
        value = body.get(key)
        if isinstance(value, dict):
            value = _message_in(value)
        elif isinstance(value, list) and value:
            value = "; ".join(str(_message_in(item) or item) for item in value)
        if isinstance(value, str) and value:
            return value
    return None


def _error_code(response: httpx.Response) -> str | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    code = error.get("code") or error.get("type") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _number(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, seconds) if seconds == seconds else None  # NaN reads as absent


def _url_of(response: httpx.Response) -> str:
    try:
        url = response.request.url
    except RuntimeError:  # a response built by hand has no request
        return "the provider"
    return str(url.copy_with(query=None))
