"""Who is asking: an API key from ``Authorization: Bearer …`` acting as its owner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ..app import Backburner
from ..errors import JobNotFound
from ..jobs import Job
from .errors import ApiError

__all__ = ["Caller", "CallerDep", "owned_job"]


@dataclass(frozen=True)
class Caller:
    """The owner a request acts as, and whether it may see every owner's jobs."""

    owner: str
    admin: bool = False

    def may_see(self, job: Job) -> bool:
        """Admins see every job; everyone else only their own."""
        return self.admin or job.owner == self.owner


def _unauthorized(detail: str) -> ApiError:
    return ApiError(401, "unauthorized", "Unauthorized", detail, {"WWW-Authenticate": "Bearer"})


async def _caller(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if not header:
        raise _unauthorized("send an API key as 'Authorization: Bearer <key>'")
    if scheme.lower() != "bearer" or not key.strip():
        raise _unauthorized("the Authorization header must be 'Bearer <key>'")
    app: Backburner = request.app.state.backburner
    found = await app.authenticate(key.strip())
    if found is None:
        raise _unauthorized("the API key is not valid (unknown or revoked)")
    return Caller(found.owner, found.admin)


#: The dependency routes use: ``caller: CallerDep``.
CallerDep = Annotated[Caller, Depends(_caller)]


async def owned_job(app: Backburner, caller: Caller, job_id: str) -> Job:
    """The job, if the caller may see it; otherwise exactly what a missing id answers."""
    job = await app.get(job_id)
    if not caller.may_see(job):
        raise JobNotFound(f"no job with id {job_id!r}")
    return job
