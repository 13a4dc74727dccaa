"""The HTTP API: `create_api` builds a FastAPI app over a `Backburner` app.

```python
api = create_api(app)                # uvicorn module:api — or `backburner serve module:app`
```
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from ..app import Backburner
from . import artifacts, credits, events, jobs, system, tick, ui, webhooks
from .admin import router as admin_router
from .errors import install_error_handlers
from .fanout import EventHub
from .hotpaths import HotPaths
from .metrics import router as metrics_router
from .tokens import router as tokens_router

__all__ = ["create_api"]


def create_api(app: Backburner, *, run_worker: bool = False) -> FastAPI:
    """The API for ``app``; with ``run_worker`` a worker runs inside the server process."""

    @asynccontextmanager
    async def lifespan(_api: FastAPI) -> AsyncIterator[None]:
        await app.open()
        if run_worker:
            async with app.worker():
                yield
        else:
            yield
        hub: EventHub | None = getattr(api.state, "event_hub", None)
        if hub is not None:  # streams still open when the server stops
            await hub.close()
        await app.close()

    api = FastAPI(
        title="backburner",
        version="1",
        summary="Durable background jobs for slow, flaky AI generation.",
        lifespan=lifespan,
    )
    api.state.backburner = app
    install_error_handlers(api)
    api.add_middleware(HotPaths)  # before CORS, so that CORS wraps it too
    if app.settings.cors_origins:
        _allow_cross_origin(api, app.settings.cors_origins)
    api.include_router(system.router)
    api.include_router(metrics_router)
    api.include_router(jobs.router)
    api.include_router(events.router)
    api.include_router(tick.router)
    api.include_router(tokens_router)
    api.include_router(webhooks.router)
    api.include_router(credits.router)
    api.include_router(ui.router)
    api.include_router(admin_router)
    api.include_router(artifacts.router)
    # the browser client, /static/backburner.js (docs/browser.md)
    api.mount("/static", StaticFiles(packages=[("backburner", "static")]), name="static")
    return api


def _allow_cross_origin(api: FastAPI, origins: tuple[str, ...]) -> None:
    """Let pages on ``origins`` call the API: bearer credentials, so no cookies are allowed."""
    api.add_middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Prefer",
            "Idempotency-Key",
            "Last-Event-ID",
        ],
        expose_headers=["Retry-After"],
        max_age=600,
    )
