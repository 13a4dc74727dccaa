"""``GET /metrics``: Prometheus exposition text for the app's jobs.

Unauthenticated, as Prometheus scrapes usually are: it exposes counts and timings by kind,
status and error type only — never owners, inputs or outputs. Still, serve it only where the
monitoring network can reach it (block ``/metrics`` at the public proxy).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..app import Backburner

__all__ = ["router"]

router = APIRouter(tags=["system"])


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Jobs by kind and status, queue depth, failures by error type, the credits ledger's
    totals; this process's wait and run time histograms and outcome counter."""
    app: Backburner = request.app.state.backburner
    content = app.metrics.render(await app.job_counts(), await app.credits.totals())
    return Response(content, media_type=CONTENT_TYPE_LATEST)
