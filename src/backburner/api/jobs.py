"""``/v1/jobs``: submit, read, list, batch status, cancel, retry, delete — thin: validate,
authorise, then the same calls the Python API makes."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import TypeAdapter

from ..app import Backburner
from ..jobs import Job, JobStatus
from .auth import Caller, CallerDep, owned_job
from .bodies import StrictJsonRoute
from .errors import ApiError
from .fanout import hub_for
from .schemas import JobBatch, JobCreate, JobList, JobPublic

__all__ = ["job_response", "read_response", "router", "submit_response"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], route_class=StrictJsonRoute)

_MAX_WAIT_S = 60
#: A cursor is a job id (a UUID), as `next_cursor` hands it out.
_CURSOR = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*([^,;\s]+)", re.IGNORECASE)


def _app(request: Request) -> Backburner:
    app: Backburner = request.app.state.backburner
    return app


def _wait_seconds(value: str | None, source: str) -> int | None:
    """A wait of 1–60 whole seconds, or an `ApiError` saying what is wrong."""
    if value is None:
        return None
    if not value.isdigit() or not 1 <= int(value) <= _MAX_WAIT_S:
        raise ApiError(
            400, "invalid-wait", "Invalid wait", f"{source}: must be 1–{_MAX_WAIT_S} seconds"
        )
    return int(value)


def _prefer_wait(prefer: str | None) -> int | None:
    match = _PREFER_WAIT.search(prefer or "")
    return _wait_seconds(match.group(1), "Prefer: wait") if match else None


async def _await_job(request: Request, job: Job, *, until_finished: bool, timeout_s: int) -> Job:
    """The job once it finishes (or, without ``until_finished``, once its status changes), or
    as it is after ``timeout_s``. Woken by the process's `EventHub` when the job's events
    arrive, not by every database change: many held requests cost no queries while idle."""
    app = _app(request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with hub_for(app, request.app.state).job(job.id) as sub:
        current = await app.get(job.id)  # read after subscribing: no change falls between
        while not (current.finished if until_finished else current.status != job.status):
            remaining = deadline - loop.time()
            if remaining <= 0:  # no change in time: the job as it is now (its progress too)
                return await app.get(job.id)
            await sub.wait(min(remaining, 1.0))
            events = sub.take()  # None: the hub could not tell, read the job
            if events is None or any(event.type == "status" for _, event in events):
                current = await app.get(job.id)
    return current


def job_response(job: Job, status_code: int = 200) -> Response:
    """The job as JSON: the bytes FastAPI's ``response_model=JobPublic`` would send, made
    once, without validating the `Job` again on its way out."""
    return Response(_JOB_JSON.dump_json(job), status_code, media_type="application/json")


_JOB_JSON = TypeAdapter(JobPublic)


@router.post("", response_model=JobPublic, status_code=202)
async def submit_job(
    body: JobCreate,
    request: Request,
    caller: CallerDep,
    prefer: Annotated[str | None, Header()] = None,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    """Store a job and return it at once (202); ``Prefer: wait=N`` returns it finished (200)
    if it finishes within N seconds. The same ``Idempotency-Key`` within 24 h returns the same
    job."""
    return await submit_response(request, caller, body, prefer, idempotency_key)


async def submit_response(
    request: Request,
    caller: Caller,
    body: JobCreate,
    prefer: str | None,
    idempotency_key: str | None,
) -> Response:
    """`submit_job` once its arguments are parsed (also called by `hotpaths`): 200 for a
    finished job, 202 while it is still queued or running."""
    wait_s = _prefer_wait(prefer)
    if body.webhook is not None and caller.token:
        raise ApiError(403, "forbidden", "Forbidden", "webhook: browser tokens cannot set one")
    app = _app(request)
    job = await app.submit(
        body.kind,
        body.input,
        owner=caller.owner,
        scope=caller.scope_for(body.scope),
        dedupe_key=body.dedupe_key,
        priority=body.priority,
        reuse=body.reuse,
        idempotency_key=idempotency_key,
        webhook=body.webhook,
    )
    if not caller.may_see(job):  # a scoped token's dedupe/idempotency key hit another scope
        raise ApiError(409, "conflict", "Conflict", "the owner already has that job elsewhere")
    if wait_s is not None and not job.finished:
        job = await _await_job(request, job, until_finished=True, timeout_s=wait_s)
    return job_response(job, 200 if job.finished else 202)


@router.get("", response_model=JobList)
async def list_jobs(
    request: Request,
    caller: CallerDep,
    scope: str | None = None,
    status: Annotated[list[JobStatus] | None, Query()] = None,
    kind: str | None = None,
    dedupe_key: str | None = None,
    active: bool | None = None,
    owner: Annotated[str | None, Query(description="admin keys only")] = None,
    cursor: Annotated[
        str | None,
        Query(pattern=_CURSOR, description="next_cursor from the previous page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> JobList:
    """The caller's jobs, newest first, filtered; admin keys see (and filter by) every owner."""
    if owner is not None and not caller.admin:
        raise ApiError(403, "forbidden", "Forbidden", "owner: only admin keys may filter by owner")
    page = await _app(request).list(
        owner=owner if caller.admin else caller.owner,
        scope=caller.scope_for(scope),
        status=status,
        kind=kind,
        dedupe_key=dedupe_key,
        active=active,
        cursor=cursor,
        limit=limit,
    )
    return JobList(jobs=page.jobs, next_cursor=page.next_cursor)


@router.post("/batch", response_model=JobList)
async def batch_status(body: JobBatch, request: Request, caller: CallerDep) -> JobList:
    """Up to 100 jobs in one query (unknown ids and other owners' jobs are left out)."""
    jobs = await _app(request).get_many(body.ids)
    return JobList(jobs=[job for job in jobs if caller.may_see(job)], next_cursor=None)


@router.get("/{job_id}", response_model=JobPublic)
async def get_job(
    job_id: str,
    request: Request,
    caller: CallerDep,
    wait: Annotated[str | None, Query(description="long-poll up to N s for a change")] = None,
) -> Response:
    """One job; with ``?wait=N``, held until its status changes or N seconds pass."""
    return await read_response(request, caller, job_id, wait)


async def read_response(
    request: Request, caller: Caller, job_id: str, wait: str | None
) -> Response:
    """`get_job` once its arguments are parsed (also called by `hotpaths`)."""
    app = _app(request)
    wait_s = _wait_seconds(wait, "wait")
    job = await owned_job(app, caller, job_id)
    if wait_s is not None and not job.finished:
        job = await _await_job(request, job, until_finished=False, timeout_s=wait_s)
    return job_response(job)


@router.post("/{job_id}/cancel", response_model=JobPublic)
async def cancel_job(job_id: str, request: Request, caller: CallerDep) -> Response:
    """Cancel a queued job now; a running one is stopped by its worker (409 once finished)."""
    await owned_job(_app(request), caller, job_id)
    return job_response(await _app(request).cancel(job_id))


@router.post("/{job_id}/retry", response_model=JobPublic, status_code=202)
async def retry_job(job_id: str, request: Request, caller: CallerDep) -> Response:
    """Re-queue a failed or canceled job: the same id, its saved input (409 otherwise)."""
    await owned_job(_app(request), caller, job_id)
    return job_response(await _app(request).retry(job_id), 202)


@router.delete("/{job_id}", status_code=204)
async def delete_job(job_id: str, request: Request, caller: CallerDep) -> Response:
    """Delete a job with its events; a running one is stopped by its worker."""
    await owned_job(_app(request), caller, job_id)
    await _app(request).delete(job_id)
    return Response(status_code=204)
