"""Strict JSON request bodies: every malformed body is a clear 4xx, never a 500 or a guess.

Python's ``json`` module accepts duplicate keys (the last one silently wins — a body with two
``kind`` fields would run the second), ``NaN`` and ``Infinity``, and recurses until it
crashes on deep nesting. `StrictJsonRoute` reads the body first and refuses all of that,
plus NUL characters, bodies over the size limit and bodies that are not JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from .errors import ApiError

__all__ = ["NO_BODY", "StrictJsonRoute", "parse_strict_json", "read_strict_json"]

#: Deepest nesting accepted in a body.
MAX_DEPTH = 64
#: Room for the body's own fields around the input, beyond ``max_input_bytes``.
_ENVELOPE_BYTES = 64 * 1024


def _invalid(detail: str) -> ApiError:
    return ApiError(400, "invalid-json", "Invalid JSON", detail)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _invalid(f"duplicate key {key!r} in the JSON body")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise _invalid(f"{name} is not valid JSON")


def _check_values(value: Any, path: tuple[str | int, ...] = ()) -> None:
    """Refuse nesting deeper than `MAX_DEPTH`, unpaired surrogates (``"\\ud800"`` is valid
    JSON but not Unicode: nothing could store or send it) and NUL characters."""
    if len(path) > MAX_DEPTH:
        raise _invalid(f"the JSON body is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, path)
            _check_values(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_values(item, (*path, index))


def _check_text(text: str, path: tuple[str | int, ...]) -> None:
    field = ".".join(str(p) for p in path) or "body"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _invalid(f"{field}: holds an unpaired surrogate escape, not Unicode") from None
    if "\x00" in text:
        detail = f"{field}: strings may not contain NUL characters"
        errors = [{"field": field, "message": "strings may not contain NUL characters"}]
        raise ApiError(422, "invalid-input", "Invalid input", detail, errors=errors)


def parse_strict_json(body: bytes) -> Any:
    """The body as JSON, or an `ApiError` saying exactly what is wrong with it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(f"the body is not valid UTF-8 (byte {exc.start})") from None
    # No deeper than the brackets opened: most bodies need no count (a Python loop per char).
    if text.count("[") + text.count("{") > MAX_DEPTH and _nesting(text) > MAX_DEPTH:
        raise _invalid(f"the JSON body is nested deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise _invalid(f"the body is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except ValueError as exc:  # e.g. an integer over Python's 4,300-digit limit
        raise _invalid(f"the body is not valid JSON: {str(exc).split(';')[0]}") from None
    _check_values(value)
    return value


def _nesting(text: str) -> int:
    """An upper bound of the nesting depth, counted before parsing (brackets in strings
    included), so a hostile body cannot make the parser recurse at all."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


class StrictJsonRoute(APIRoute):
    """A route whose JSON body is checked by `parse_strict_json` before FastAPI reads it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            if request.method in {"POST", "PUT", "PATCH"}:
                value = await read_strict_json(request)
                if value is not NO_BODY:
                    request._json = value  # starlette's cache: FastAPI reads it from here
            return await handler(request)

        return strict


#: What `read_strict_json` returns for an empty body (FastAPI says which fields are missing).
NO_BODY: Any = object()


async def read_strict_json(request: Request) -> Any:
    """The request's body as JSON (`NO_BODY` when empty), or an `ApiError` saying what is
    wrong: too large (413, before reading it when its length is declared), not JSON (415),
    malformed (400, see `parse_strict_json`)."""
    limit = request.app.state.backburner.settings.max_input_bytes + _ENVELOPE_BYTES
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(
            413, "too-large", "Body too large", f"the body is over the limit of {limit} bytes"
        )
    body = await request.body()
    if not body:
        return NO_BODY
    if len(body) > limit:
        raise ApiError(
            413, "too-large", "Body too large", f"the body is over the limit of {limit} bytes"
        )
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ApiError(
            415, "unsupported-media-type", "Unsupported media type", "send application/json"
        )
    return parse_strict_json(body)
