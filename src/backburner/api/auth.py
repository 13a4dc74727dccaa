"""Who is asking: an API key or a browser token from ``Authorization: Bearer …``, acting as
its owner. A browser token (never an API key) may also come as ``?access_token=``, because a
browser's ``EventSource`` cannot send headers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from ..app import Backburner
from ..errors import JobNotFound
from ..jobs import Job
from ..tokens import InvalidToken, is_token
from .errors import ApiError

__all__ = ["Caller", "CallerDep", "caller_for", "owned_job"]


@dataclass(frozen=True)
class Caller:
    """The owner a request acts as, and whether it may see every owner's jobs."""

    owner: str
    admin: bool = False
    #: A browser token's scope: the caller sees and acts only on the owner's jobs in it.
    scope: str | None = None
    #: A browser token, not an API key: it cannot mint tokens.
    token: bool = False

    def may_see(self, job: Job) -> bool:
        """Admins see every job; everyone else only their own (in their scope, if scoped)."""
        if self.admin:
            return True
        return job.owner == self.owner and self.scope in (None, job.scope)

    def scope_for(self, scope: str | None) -> str | None:
        """The scope a request uses: a scoped caller's own when none is named, 403 for
        another; anyone else's is just what was named."""
        if self.scope is None or scope in (None, self.scope):
            return self.scope or scope
        raise ApiError(
            403, "forbidden", "Forbidden", f"scope: this token is limited to {self.scope!r}"
        )


def _unauthorized(detail: str) -> ApiError:
    return ApiError(401, "unauthorized", "Unauthorized", detail, {"WWW-Authenticate": "Bearer"})


def _credential(header: str, access_token: str | None) -> str:
    """The key or token sent; only a browser token may come in the query string (URLs end up
    in logs and histories, and a token expires soon)."""
    if access_token is not None and not is_token(access_token):
        raise _unauthorized("?access_token= takes only browser tokens, never API keys")
    if not header and access_token is not None:
        return access_token
    scheme, _, key = header.partition(" ")
    if not header:
        raise _unauthorized("send an API key as 'Authorization: Bearer <key>'")
    if scheme.lower() != "bearer" or not key.strip():
        raise _unauthorized("the Authorization header must be 'Bearer <key>'")
    return key.strip()


async def caller_for(app: Backburner, authorization: str, access_token: str | None) -> Caller:
    """Who sends ``Authorization: authorization`` (and ``?access_token=``), or a 401."""
    credential = _credential(authorization, access_token)
    if is_token(credential):
        try:
            owner, scope = await app.read_browser_token(credential)
        except InvalidToken as exc:
            raise _unauthorized(str(exc)) from exc
        return Caller(owner, scope=scope, token=True)
    found = await app.authenticate(credential)
    if found is None:
        raise _unauthorized("the API key is not valid (unknown or revoked)")
    return Caller(found.owner, found.admin)


async def _caller(
    request: Request,
    access_token: Annotated[str | None, Query(description="a browser token (not a key)")] = None,
) -> Caller:
    app: Backburner = request.app.state.backburner
    return await caller_for(app, request.headers.get("authorization", ""), access_token)


#: The dependency routes use: ``caller: CallerDep``.
CallerDep = Annotated[Caller, Depends(_caller)]


async def owned_job(app: Backburner, caller: Caller, job_id: str) -> Job:
    """The job, if the caller may see it; otherwise exactly what a missing id answers."""
    job = await app.get(job_id)
    if not caller.may_see(job):
        raise JobNotFound(f"no job with id {job_id!r}")
    return job
