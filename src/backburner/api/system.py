"""Health, readiness and the kinds catalogue."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ..app import Backburner
from ..errors import StorageError
from .auth import CallerDep
from .errors import ApiError

__all__ = ["router"]

router = APIRouter(tags=["system"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> dict[str, str]:
    """The database answers and its schema is current (503 otherwise)."""
    app: Backburner = request.app.state.backburner
    try:
        await app.ready()
    except StorageError as exc:
        raise ApiError(503, "unavailable", "Not ready", str(exc)) from None
    return {"status": "ready"}


@router.get("/v1/kinds")
async def kinds(request: Request, caller: CallerDep) -> dict[str, list[dict[str, Any]]]:
    """Every kind: its input and output JSON schemas and its policy."""
    app: Backburner = request.app.state.backburner
    return {"kinds": [kind.describe() for kind in app.kinds]}
