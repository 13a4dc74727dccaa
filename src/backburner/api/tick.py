"""``POST /v1/worker/tick``: run the worker loop for a while, for serverless deployments.

A cron (seed 003's "every minute") calls it with the tick secret; the request claims and runs
jobs for up to ``seconds`` and answers with what it did. Jobs still running at the deadline
are put back in the queue without spending an attempt, for the next tick.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request

from ..app import Backburner
from .errors import ApiError

__all__ = ["router"]

router = APIRouter(tags=["worker"])

_MAX_TICK_S = 300


def _check_secret(app: Backburner, authorization: str | None) -> None:
    """Compare ``Bearer <secret>`` with ``BACKBURNER_TICK_SECRET`` in constant time."""
    configured = app.settings.tick_secret
    if configured is None:
        raise ApiError(404, "not-found", "Not found", "the tick endpoint is not enabled")
    scheme, _, given = (authorization or "").partition(" ")
    expected = configured.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise ApiError(
            401,
            "unauthorized",
            "Unauthorized",
            "send the tick secret as 'Authorization: Bearer <secret>'",
            {"WWW-Authenticate": "Bearer"},
        )


@router.post("/v1/worker/tick")
async def tick(
    request: Request,
    seconds: Annotated[float, Query(gt=0, le=_MAX_TICK_S)] = 10,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Claim and run jobs for up to ``seconds`` (or until none is runnable); report them."""
    app: Backburner = request.app.state.backburner
    _check_secret(app, authorization)
    worker = app.worker(burst=True)
    started = time.monotonic()
    run = asyncio.create_task(worker.run())
    done, _ = await asyncio.wait([run], timeout=seconds)
    if not done:
        worker.stop(immediate=True)  # unfinished jobs go back, their attempt unspent
    await run
    return {"ran_s": round(time.monotonic() - started, 3), "jobs": dict(worker.stats)}
