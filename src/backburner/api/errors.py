"""The one place errors become HTTP responses: RFC 9457 ``application/problem+json``.

Bodies carry ``type``, ``title``, ``status``, ``detail`` (and ``errors`` for validation):
never a stack trace, never the input that was sent back (it may hold a secret).
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import (
    BackburnerError,
    InputTooLarge,
    InputValidationError,
    InsufficientCredits,
    InvalidInput,
    InvalidTransition,
    JobNotFound,
    LimitExceeded,
    RateLimited,
    StorageError,
)

__all__ = [
    "ApiError",
    "api_error_response",
    "backburner_error_response",
    "install_error_handlers",
    "problem",
]

#: BackburnerError classes → (status, slug, title); the first match wins.
_MAPPING: list[tuple[type[BackburnerError], int, str, str]] = [
    (JobNotFound, 404, "not-found", "Not found"),
    (InvalidTransition, 409, "conflict", "Not allowed in the job's current state"),
    (InsufficientCredits, 402, "insufficient-credits", "Not enough credits"),
    (RateLimited, 429, "rate-limited", "Too many requests"),
    (LimitExceeded, 429, "limit-exceeded", "Too many queued jobs"),
    (InputTooLarge, 413, "too-large", "Input too large"),
    (InvalidInput, 422, "invalid-input", "Invalid input"),
    (StorageError, 503, "unavailable", "The database is unavailable"),
]


class ApiError(Exception):
    """An HTTP error raised by the API layer itself (auth, headers, limits)."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        *,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers = headers or {}
        #: ``[{field, message}]`` for a problem with fields (as validation errors have).
        self.errors = errors


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response."""
    body = {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail}
    return JSONResponse(
        {**body, **extra}, status, headers=headers, media_type="application/problem+json"
    )


def api_error_response(exc: ApiError) -> JSONResponse:
    """The problem response for an `ApiError`."""
    extra = {} if exc.errors is None else {"errors": exc.errors}
    return problem(exc.status, exc.slug, exc.title, exc.detail, headers=exc.headers, **extra)


def backburner_error_response(exc: BackburnerError) -> JSONResponse:
    """The problem response for a `BackburnerError`: its status from `_MAPPING`, else 500."""
    for cls, status, slug, title in _MAPPING:
        if isinstance(exc, cls):
            extra = (
                _field_errors(exc.errors, whole="input")
                if isinstance(exc, InputValidationError)
                else {}
            )
            headers = _retry_after(exc) if isinstance(exc, RateLimited) else None
            return problem(status, slug, title, str(exc), headers=headers, **extra)
    return problem(500, "internal", "Internal error", "the server could not do that")


def _retry_after(exc: RateLimited) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}


def install_error_handlers(api: FastAPI) -> None:
    """Map every error the API can raise to a problem response."""

    @api.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return api_error_response(exc)

    @api.exception_handler(BackburnerError)
    async def _backburner_error(_request: Request, exc: BackburnerError) -> JSONResponse:
        return backburner_error_response(exc)

    @api.exception_handler(RequestValidationError)
    async def _request_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(list(exc.errors()))
        first = errors["errors"][0] if errors["errors"] else {"field": "body", "message": "invalid"}
        detail = f"{first['field']}: {first['message']}"
        return problem(422, "invalid-request", "Invalid request", detail, **errors)

    @api.exception_handler(HTTPException)
    async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        slug = "not-found" if exc.status_code == 404 else "http-error"
        return problem(exc.status_code, slug, str(exc.detail), str(exc.detail))


def _field_errors(errors: list[Any], whole: str = "body") -> dict[str, Any]:
    """``[{field, message}]``: the field path and what is wrong, without the input itself;
    an empty path is the ``whole`` thing validated (the body, or a kind's input)."""
    return {
        "errors": [
            {"field": ".".join(str(p) for p in e.get("loc", ())) or whole, "message": e["msg"]}
            for e in errors
        ]
    }
