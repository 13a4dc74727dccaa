"""The operator's endpoints — ``GET /v1/admin/overview`` and ``POST /v1/admin/retry-failed``
(admin keys only) — and ``GET /v1/jobs/{id}/log``, a job's whole event log as JSON (for
the admin page: a browser's ``EventSource`` cannot send an admin key). Thin over
``app.operations``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ..app import Backburner
from ..jobs import Event
from ..operations import Overview, RetryReport
from .auth import Caller, CallerDep, owned_job
from .bodies import StrictJsonRoute
from .errors import ApiError

__all__ = ["JobLog", "RetryFailed", "router"]

router = APIRouter(tags=["operator"], route_class=StrictJsonRoute)


class RetryFailed(BaseModel):
    """``POST /v1/admin/retry-failed``: re-queue up to ``limit`` failed jobs of ``kind``."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, max_length=200)
    limit: int = Field(default=100, ge=1, le=1000)


class JobLog(BaseModel):
    """A job's event log, oldest first."""

    events: list[Event]


def _app(request: Request) -> Backburner:
    return request.app.state.backburner  # type: ignore[no-any-return]


def _admin_only(caller: Caller) -> None:
    if not caller.admin:
        raise ApiError(403, "forbidden", "Forbidden", "only admin keys may use /v1/admin")


@router.get("/v1/admin/overview", response_model=Overview)
async def overview(
    request: Request,
    caller: CallerDep,
    running_limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    workers_limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Overview:
    """The queue by kind and status, running jobs with their leases, workers with their
    heartbeats, and jobs finished per minute over the last hour (admin keys only)."""
    _admin_only(caller)
    return await _app(request).operations.overview(
        running_limit=running_limit, workers_limit=workers_limit
    )


@router.post("/v1/admin/retry-failed", response_model=RetryReport)
async def retry_failed(body: RetryFailed, request: Request, caller: CallerDep) -> RetryReport:
    """Re-queue the failed jobs of a kind, each as ``POST /v1/jobs/{id}/retry`` would (admin
    keys only); those a retry refuses stay failed and are listed in ``skipped``."""
    _admin_only(caller)
    return await _app(request).operations.retry_failed(body.kind, limit=body.limit)


@router.get("/v1/jobs/{job_id}/log", response_model=JobLog)
async def job_log(job_id: str, request: Request, caller: CallerDep) -> JobLog:
    """A job's whole event log as JSON; another owner's job answers 404 (admins see all)."""
    app = _app(request)
    await owned_job(app, caller, job_id)
    return JobLog(events=await app.events(job_id))
