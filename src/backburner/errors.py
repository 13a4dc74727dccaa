"""Every exception backburner raises, and the two a handler raises to steer its job.

```
BackburnerError
 ├── ConfigError                 settings, URLs, durations that cannot be used
 │    ├── InvalidDuration
 │    └── UnsupportedDatabase
 ├── InvalidInput                a submit that is refused; nothing is stored
 │    ├── UnknownKind
 │    ├── InputValidationError   the kind's input model said no (names the field)
 │    ├── InputNotSerializable
 │    └── InputTooLarge
 ├── JobNotFound
 ├── InvalidTransition           cancel/retry/delete of a job in a state that does not allow it
 ├── JobTimeout                  wait() gave up before the job finished
 ├── InsufficientCredits         the owner cannot cover the job's cost (HTTP 402); nothing stored
 ├── LimitExceeded               the owner has as many queued jobs as allowed (HTTP 429)
 │    └── RateLimited            the owner submitted faster than the rate limit (HTTP 429)
 ├── StorageError                the database cannot be used right now
 │    └── LeaseLost              internal: a fenced write found the job no longer ours
 └── ApiRequestError             the HTTP API refused a client's request (status, problem)
      ├── Unauthorized           401: no key, an unknown or a revoked one
      └── Forbidden              403: the key may not do that

Retry(after=…)   raised by a handler: try again later (spends an attempt)
Fail(reason)     raised by a handler: fail now, no more attempts
```

Each class's docstring is its default message.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiRequestError",
    "BackburnerError",
    "ConfigError",
    "Fail",
    "Forbidden",
    "InputNotSerializable",
    "InputTooLarge",
    "InputValidationError",
    "InsufficientCredits",
    "InvalidDuration",
    "InvalidInput",
    "InvalidTransition",
    "JobNotFound",
    "JobTimeout",
    "LeaseLost",
    "LimitExceeded",
    "RateLimited",
    "Retry",
    "StorageError",
    "Unauthorized",
    "UnknownKind",
    "UnsupportedDatabase",
]


class BackburnerError(Exception):
    """A backburner operation failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        """The human-readable message."""
        return str(self)


class ConfigError(BackburnerError):
    """The configuration is invalid."""


class InvalidDuration(ConfigError):
    """A duration must be a number of seconds or a string like '90s', '10m', '24h'."""


class UnsupportedDatabase(ConfigError):
    """The database URL has a scheme backburner does not support."""


class InvalidInput(BackburnerError):
    """The job was refused; nothing was stored."""


class UnknownKind(InvalidInput):
    """No kind is registered under that name."""


class InputValidationError(InvalidInput):
    """The input does not match the kind's input model."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        #: pydantic's error list: each with ``loc`` (the field path), ``msg`` and ``type``.
        self.errors = errors or []


class InputNotSerializable(InvalidInput):
    """The input cannot be stored as JSON."""


class InputTooLarge(InvalidInput):
    """The input is larger than the configured limit."""


class JobNotFound(BackburnerError):
    """No job has that id."""


class InvalidTransition(BackburnerError):
    """The job's current status does not allow that action."""


class JobTimeout(BackburnerError):
    """The job did not finish within the time waited."""


class InsufficientCredits(BackburnerError):
    """The owner's available credits do not cover the job's cost; nothing was stored."""


class LimitExceeded(BackburnerError):
    """The owner already has as many queued jobs as allowed; nothing was stored."""


class RateLimited(LimitExceeded):
    """The owner is over the submission rate limit; nothing was stored."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        #: Seconds until the owner may submit again.
        self.retry_after_s = retry_after_s


class StorageError(BackburnerError):
    """The database cannot be used right now."""


class LeaseLost(StorageError):
    """The job is no longer running under this worker's lease."""


class ApiRequestError(BackburnerError):
    """The backburner API refused the request.

    Raised by `Client` / `AsyncClient` for an HTTP error that has no closer class (a bad
    ``wait``, a 500): ``status`` is the HTTP status, ``problem`` the RFC 9457 body.
    """

    def __init__(
        self, message: str | None = None, *, status: int = 0, problem: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        #: The HTTP status code.
        self.status = status
        #: The problem+json body: ``type``, ``title``, ``status``, ``detail``.
        self.problem = problem or {}


class Unauthorized(ApiRequestError):
    """The API key is missing, unknown or revoked."""


class Forbidden(ApiRequestError):
    """The API key may not do that."""


class NotBackburner(ApiRequestError):
    """What answered is not a backburner server (an HTML error page from a proxy, another
    service at that address): its body is neither a problem+json error nor the expected JSON."""


class Retry(Exception):
    """Raised by a handler: this attempt did not work, try again after ``after`` seconds.

    ```python
    if response.status_code == 429:
        raise bb.Retry(after="30s")
    ```

    It spends an attempt; when the kind's attempts are used up the job fails with
    error type ``handler_error`` (or ``error_type`` when given).
    """

    def __init__(
        self,
        after: float | str | None = None,
        reason: str = "retry requested by the handler",
        *,
        error_type: str = "handler_error",
    ) -> None:
        from .durations import parse_duration

        super().__init__(reason)
        #: Seconds to wait before the next attempt; ``None`` uses the kind's backoff.
        self.after_s = None if after is None else parse_duration(after, field="after")
        self.reason = reason
        self.error_type = error_type


class Fail(Exception):
    """Raised by a handler: fail the job now, with no further attempts.

    ```python
    if not scenes:
        raise bb.Fail("the script has no scenes")
    ```
    """

    def __init__(self, reason: str, *, error_type: str = "handler_error") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type
