"""Internal: the fake provider's HTTP app — routes, injected faults, the control endpoints.

```
/v1/chat/completions, /v1/images/generations, /v1/audio/speech, /v1/models   OpenAI-compatible
/v1/predictions, /v1/predictions/{id}, /v1/predictions/{id}/cancel          Replicate-like
/v1/files/...                 images and clips the answers link to (no faults, no key)
/_fake/knobs (GET, POST), /_fake/requests                                    control
```
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import time
from dataclasses import asdict
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .knobs import FakeState, Knobs
from .openai import openai_routes
from .predictions import file_routes, prediction_routes

__all__ = ["create_fake_app", "error_response"]

_NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_MESSAGES = {
    400: ("invalid_request_error", "We could not parse the JSON body of your request."),
    401: ("invalid_api_key", "Incorrect API key provided."),
    403: ("permission_denied", "You are not allowed to sample from this model."),
    404: ("not_found", "The model does not exist or you do not have access to it."),
    408: ("timeout", "The request timed out."),
    429: ("rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", "The server had an error while processing your request."),
    503: ("server_error", "The server is overloaded or not ready yet."),
}


class _Injected(Exception):
    """Raised by the guard: answer with ``response`` instead of running the route."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def create_fake_app(state: FakeState) -> FastAPI:
    """The fake provider's app over ``state`` (its knobs, request log and predictions)."""
    app = FastAPI(
        title="backburner fake AI provider", docs_url=None, redoc_url=None, openapi_url=None
    )

    async def guard(request: Request) -> None:
        await _guard(request, state)

    async def injected(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _Injected)
        return exc.response

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
        status = 422 if _is_prediction(request.url.path) else 400
        return error_response(status, request.url.path, state.knobs, f"Invalid request: {problems}")

    app.add_exception_handler(_Injected, injected)
    app.add_exception_handler(RequestValidationError, invalid)
    api = APIRouter(prefix="/v1", dependencies=[Depends(guard)])
    openai_routes(api, state)
    prediction_routes(api, state)
    app.include_router(api)
    app.include_router(file_routes(state), prefix="/v1/files")
    app.include_router(_control_routes(state), prefix="/_fake")

    @app.get("/")
    async def about(request: Request) -> dict[str, Any]:
        return {
            "fake": True,
            "about": "backburner's FAKE AI provider, for tests and demos: not a model",
            "base_url": f"{str(request.base_url).rstrip('/')}/v1",
            "docs": "docs/providers.md",
        }

    app.add_middleware(_RequestLog, state=state)
    return app


def error_response(status: int, path: str, knobs: Knobs, message: str | None = None) -> Response:
    """An error as the real services send it: nginx's HTML for 502, Replicate's problem JSON
    on prediction paths, OpenAI's ``{"error": {...}}`` elsewhere; ``Retry-After`` on 429/503."""
    headers = _retry_after(knobs) if status in (429, 503) else {}
    if status == 502:
        return HTMLResponse(_NGINX_502, status_code=502, headers=headers)
    code, default = _MESSAGES.get(status, ("error", HTTPStatus(status).phrase))
    text = message or default
    if _is_prediction(path):
        body: dict[str, Any] = {
            "title": HTTPStatus(status).phrase,
            "detail": text,
            "status": status,
        }
    else:
        kind = "server_error" if status >= 500 else "invalid_request_error"
        body = {"error": {"message": text, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


async def _guard(request: Request, state: FakeState) -> None:
    knobs = state.knobs
    if knobs.latency_s:
        await asyncio.sleep(knobs.latency_s)
    path = request.url.path
    if knobs.api_key is not None:
        if request.headers.get("authorization") != f"Bearer {knobs.api_key}":
            raise _Injected(error_response(401, path, knobs))
    fault = state.next_fault()
    if fault is None or (fault.status == 200 and not fault.hang):
        return
    if fault.hang:
        await _hang(request, state)
        raise _Injected(Response(status_code=504))
    raise _Injected(error_response(fault.status, path, knobs))


async def _hang(request: Request, state: FakeState) -> None:
    """Answer nothing until the client gives up or the server stops."""
    while not state.stopping.is_set():
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.02)


def _retry_after(knobs: Knobs) -> dict[str, str]:
    if knobs.retry_after_s is None:
        return {}
    if knobs.retry_after_http_date:
        when = time.time() + math.ceil(knobs.retry_after_s)
        return {"Retry-After": email.utils.formatdate(when, usegmt=True)}
    return {"Retry-After": f"{knobs.retry_after_s:g}"}


def _is_prediction(path: str) -> bool:
    return path.startswith("/v1/predictions")


def _control_routes(state: FakeState) -> APIRouter:
    router = APIRouter()

    @router.get("/knobs")
    async def get_knobs() -> dict[str, Any]:
        return state.knobs.model_dump()

    @router.post("/knobs")
    async def set_knobs(request: Request) -> Response:
        # The body is read as JSON whatever its content type: `curl -d '{…}'` is enough.
        try:
            changes = json.loads(await request.body() or b"{}")
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object of knobs")
            return JSONResponse(state.set_knobs(**changes).model_dump())
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False)
            return JSONResponse({"detail": errors}, status_code=422)
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)

    @router.get("/requests")
    async def requests() -> list[dict[str, Any]]:
        return [asdict(r) for r in state.requests()]

    return router


class _RequestLog:
    """ASGI middleware: logs each provider request and the status it got (not ``/_fake``)."""

    def __init__(self, app: ASGIApp, state: FakeState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_fake"):
            await self.app(scope, receive, send)
            return
        entry = self.state.record(scope["method"], scope["path"])

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
            await send(message)

        await self.app(scope, receive, sending)
