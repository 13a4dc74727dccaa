"""Internal: ``POST /v1/jobs`` and ``GET /v1/jobs/{id}`` without FastAPI's per-request work.

Submits and polls are most of an API's traffic. For each request FastAPI matches the routes one
by one, solves the dependencies, validates the body and then the response again: more CPU than
the database work. `HotPaths`, an ASGI middleware in front of the router, answers the plain
cases of those two routes itself, with the functions the routes call (`read_strict_json`,
`caller_for`, `submit_response`, `read_response`), and hands everything else to the routes
untouched: a query string, another method, a body that is not a valid `JobCreate`, a caller
that does not authenticate. So every error a request could meet before the route's own work
is FastAPI's own answer, and the routes stay what OpenAPI describes.

Errors of the work itself (a refused transition, a full rate limit, the database) are answered
by the same functions the app's exception handlers use (`errors`).
"""

from __future__ import annotations

from collections.abc import Awaitable

from pydantic import ValidationError
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..app import Backburner
from ..errors import BackburnerError
from .auth import Caller, caller_for
from .bodies import read_strict_json
from .errors import ApiError, api_error_response, backburner_error_response
from .jobs import read_response, submit_response
from .schemas import JobCreate

__all__ = ["HotPaths"]

_JOBS = "/v1/jobs"
_ONE_JOB = "/v1/jobs/"


class HotPaths:
    """ASGI middleware: the plain submit and read of a job, answered without the router."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["query_string"]:
            path, method = get_route_path(scope), scope["method"]
            if method == "POST" and path == _JOBS:
                return await self._submit(scope, receive, send)
            job_id = path[len(_ONE_JOB) :]
            if method == "GET" and path.startswith(_ONE_JOB) and job_id and "/" not in job_id:
                return await self._read(scope, receive, send, job_id)
        await self.app(scope, receive, send)

    async def _submit(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            # NO_BODY is no JobCreate either: FastAPI says which fields are missing.
            body = JobCreate.model_validate(await read_strict_json(request))
            caller = await _caller(request)
        except (ApiError, ValidationError):
            return await self.app(scope, _replay(request, receive), send)
        headers = request.headers
        work = submit_response(
            request, caller, body, headers.get("prefer"), headers.get("idempotency-key")
        )
        await (await _answer(work))(scope, receive, send)

    async def _read(self, scope: Scope, receive: Receive, send: Send, job_id: str) -> None:
        request = Request(scope, receive)
        try:
            caller = await _caller(request)
        except ApiError:
            return await self.app(scope, receive, send)
        response = await _answer(read_response(request, caller, job_id, None))
        await response(scope, receive, send)


async def _caller(request: Request) -> Caller:
    app: Backburner = request.app.state.backburner
    return await caller_for(app, request.headers.get("authorization", ""), None)


async def _answer(work: Awaitable[Response]) -> Response:
    """The response ``work`` makes, or the problem response its error maps to."""
    try:
        return await work
    except ApiError as exc:
        return api_error_response(exc)
    except BackburnerError as exc:
        return backburner_error_response(exc)


def _replay(request: Request, receive: Receive) -> Receive:
    """``receive`` for the router: the body this request already read, if it read it."""
    body: bytes | None = getattr(request, "_body", None)
    if body is None:
        return receive
    replayed = False

    async def again() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again
