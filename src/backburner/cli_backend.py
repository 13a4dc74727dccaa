"""Where the CLI's job commands find jobs: this machine's database, or a server over HTTP.

Each job command (``submit``, ``wait``, ``status``, ``jobs``, ``cancel``, ``retry``,
``delete``) and each ``credits`` command is written once against `JobsBackend`;
`open_backend` picks the implementation:

- `LocalBackend`: the app from ``--app`` (or a bare one) on its database, as the worker sees it.
- `RemoteBackend`: a `backburner serve` at ``--url`` through `AsyncClient`, acting as the
  owner of ``--key``. HTTP errors arrive as the same `BackburnerError` classes the app raises
  (404 `JobNotFound`, 409 `InvalidTransition`, 422 `InvalidInput` …), so both modes print
  and exit alike.
"""

from __future__ import annotations

import asyncio
import builtins
import importlib
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx

from .app import Backburner
from .artifacts import Artifacts
from .client import AsyncClient, JobList
from .config import Settings
from .errors import BackburnerError, ConfigError, JobNotFound, JobTimeout, NotBackburner
from .jobs import Job, JobStatus
from .ledger import CreditBalance, CreditEntry

__all__ = [
    "JobsBackend",
    "LocalBackend",
    "RemoteBackend",
    "RemoteFailure",
    "load_app",
    "make_app",
    "open_backend",
]

T = TypeVar("T")

#: Longest pause between two reports of a job being waited on, so its elapsed time moves
#: (the same pace as the progress board's).
REFRESH_S = 0.5


class RemoteFailure(BackburnerError):
    """The server at ``--url`` could not be reached, or did not answer like a backburner
    server (exit 1)."""


class JobsBackend(Protocol):
    """The job (and credits) operations a CLI command needs, the same for a local app and a
    server."""

    async def submit(
        self,
        kind: str,
        input: Any,
        *,
        owner: str | None,
        scope: str | None,
        dedupe_key: str | None,
        priority: int,
    ) -> Job:
        """Store a job (``owner=None``: the default owner, or the API key's)."""
        ...

    async def get(self, job_id: str) -> Job:
        """The job now; `JobNotFound` when it does not exist (or is another owner's)."""
        ...

    async def list(
        self,
        *,
        owner: str | None,
        scope: str | None,
        status: builtins.list[JobStatus] | None,
        kind: str | None,
        active: bool | None,
        limit: int,
    ) -> JobList:
        """The newest jobs matching the filters."""
        ...

    async def wait(
        self, job_id: str, *, limit_s: float | None, on_change: Callable[[Job], object]
    ) -> Job:
        """The job once it has finished; ``on_change(job)`` sees it meanwhile, at least every
        `REFRESH_S` seconds. `JobTimeout` after ``limit_s`` seconds."""
        ...

    async def cancel(self, job_id: str) -> Job:
        """Cancel a queued job; ask a running one's worker to stop it."""
        ...

    async def retry(self, job_id: str) -> Job:
        """Queue a failed or canceled job again."""
        ...

    async def delete(self, job_id: str) -> None:
        """Delete the job and its events."""
        ...

    async def credits(
        self, owner: str, limit: int
    ) -> tuple[CreditBalance, builtins.list[CreditEntry]]:
        """``owner``'s credits and newest ``limit`` ledger entries."""
        ...

    async def change_credits(
        self, owner: str, amount: float, *, adjust: bool, note: str | None
    ) -> CreditEntry:
        """Grant ``amount`` to ``owner`` (with ``adjust``: correct by it); the entry made."""
        ...

    async def aclose(self) -> None:
        """Release the database or the connections."""
        ...


class LocalBackend:
    """`JobsBackend` over a `Backburner` app: the database, directly."""

    def __init__(self, app: Backburner) -> None:
        self.app = app

    async def submit(
        self,
        kind: str,
        input: Any,
        *,
        owner: str | None,
        scope: str | None,
        dedupe_key: str | None,
        priority: int,
    ) -> Job:
        """Store the job in the database (owner ``default`` unless given)."""
        return await self.app.submit(
            kind,
            input,
            owner="default" if owner is None else owner,
            scope=scope,
            dedupe_key=dedupe_key,
            priority=priority,
        )

    async def get(self, job_id: str) -> Job:
        """The job, read from the database."""
        return await self.app.get(job_id)

    async def list(
        self,
        *,
        owner: str | None,
        scope: str | None,
        status: builtins.list[JobStatus] | None,
        kind: str | None,
        active: bool | None,
        limit: int,
    ) -> JobList:
        """Any owner's jobs (``owner`` filters)."""
        page = await self.app.list(
            owner=owner, scope=scope, status=status, kind=kind, active=active, limit=limit
        )
        return JobList(jobs=page.jobs, next_cursor=page.next_cursor)

    async def wait(
        self, job_id: str, *, limit_s: float | None, on_change: Callable[[Job], object]
    ) -> Job:
        """Watch the database until the job has finished."""
        async for (job,) in self.app.watch([job_id], timeout=limit_s, refresh_s=REFRESH_S):
            on_change(job)
            if job.finished:
                return job
        raise JobNotFound(f"no job with id {job_id!r}")  # pragma: no cover - watch() ends finished

    async def cancel(self, job_id: str) -> Job:
        """Cancel through the app."""
        return await self.app.cancel(job_id)

    async def retry(self, job_id: str) -> Job:
        """Retry through the app."""
        return await self.app.retry(job_id)

    async def delete(self, job_id: str) -> None:
        """Delete through the app."""
        await self.app.delete(job_id)

    async def credits(
        self, owner: str, limit: int
    ) -> tuple[CreditBalance, builtins.list[CreditEntry]]:
        """Any owner's credits, from the ledger."""
        credits = self.app.credits
        return await credits.balance(owner), await credits.entries(owner, limit=limit)

    async def change_credits(
        self, owner: str, amount: float, *, adjust: bool, note: str | None
    ) -> CreditEntry:
        """A grant or an adjustment in the ledger."""
        change = self.app.credits.adjust if adjust else self.app.credits.grant
        return await change(owner, amount, note=note)

    async def aclose(self) -> None:
        """Close the app's database connections."""
        await self.app.close()


class RemoteBackend:
    """`JobsBackend` over HTTP: a `backburner serve` at ``url``, as the owner of ``key``."""

    def __init__(self, url: str, key: str | None) -> None:
        key = (key or "").strip()
        if not key:
            raise ConfigError("--url needs an API key: pass --key KEY or set BACKBURNER_API_KEY")
        if not (key.isascii() and key.isprintable()) or " " in key:
            # Never echo it: httpx's own error for a bad header value would print the key.
            raise ConfigError("--key: not an API key (one word of printable ASCII characters)")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"--url: must be an http:// or https:// address, got {url!r}")
        self.url = url
        try:
            self.client = AsyncClient(url, key)
        except httpx.InvalidURL as exc:
            raise ConfigError(f"--url: {exc}") from None

    async def _call(self, request: Awaitable[T]) -> T:
        """``await request``, with transport failures and non-backburner answers as
        `RemoteFailure` (the client already turns problem+json errors into ours)."""
        try:
            return await request
        except httpx.HTTPError as exc:
            raise RemoteFailure(f"cannot reach {self.url}: {_reason(exc)}") from None
        except NotBackburner:  # another service at that address, or a proxy's error page
            raise RemoteFailure(f"{self.url} did not answer like a backburner server") from None

    async def submit(
        self,
        kind: str,
        input: Any,
        *,
        owner: str | None,
        scope: str | None,
        dedupe_key: str | None,
        priority: int,
    ) -> Job:
        """Submit as the key's owner; an explicit owner is refused rather than ignored."""
        if owner is not None:
            raise ConfigError(
                "--owner: with --url the job belongs to the API key's owner; "
                "leave out --owner (and BACKBURNER_OWNER)"
            )
        return await self._call(
            self.client.submit(kind, input, scope=scope, dedupe_key=dedupe_key, priority=priority)
        )

    async def get(self, job_id: str) -> Job:
        """``GET /v1/jobs/{id}``."""
        return await self._call(self.client.get(job_id))

    async def list(
        self,
        *,
        owner: str | None,
        scope: str | None,
        status: builtins.list[JobStatus] | None,
        kind: str | None,
        active: bool | None,
        limit: int,
    ) -> JobList:
        """The key's jobs (``owner`` filters only for an admin key; 403 otherwise)."""
        statuses: builtins.list[JobStatus | str] | None = None if status is None else [*status]
        listing = self.client.list(
            owner=owner, scope=scope, status=statuses, kind=kind, active=active, limit=limit
        )
        return await self._call(listing)

    async def wait(
        self, job_id: str, *, limit_s: float | None, on_change: Callable[[Job], object]
    ) -> Job:
        """Long-poll with the client's `wait`, showing the last state again every `REFRESH_S`
        seconds; a timeout reads as the local one does."""
        seen: builtins.list[Job] = []

        def changed(job: Job) -> None:
            seen[:] = [job]
            on_change(job)

        ticker = asyncio.create_task(_every(REFRESH_S, lambda: seen and on_change(seen[0])))
        try:
            return await self._call(self.client.wait(job_id, limit_s, on_change=changed))
        except JobTimeout:
            state = seen[0].status.value if seen else "unfinished"
            raise JobTimeout(f"job {job_id} is still {state} after {limit_s or 0:g}s") from None
        finally:
            ticker.cancel()

    async def cancel(self, job_id: str) -> Job:
        """``POST /v1/jobs/{id}/cancel``."""
        return await self._call(self.client.cancel(job_id))

    async def retry(self, job_id: str) -> Job:
        """``POST /v1/jobs/{id}/retry``."""
        return await self._call(self.client.retry(job_id))

    async def delete(self, job_id: str) -> None:
        """``DELETE /v1/jobs/{id}``."""
        await self._call(self.client.delete(job_id))

    async def credits(
        self, owner: str, limit: int
    ) -> tuple[CreditBalance, builtins.list[CreditEntry]]:
        """``GET /v1/credits?owner=``: the key's own owner, or any with an admin key."""
        report = await self._call(self.client.credits(owner=owner, limit=limit))
        return CreditBalance(report.owner, report.balance, report.reserved), report.entries

    async def change_credits(
        self, owner: str, amount: float, *, adjust: bool, note: str | None
    ) -> CreditEntry:
        """``POST /v1/admin/credits``: admin keys only (403 otherwise)."""
        kind: Literal["grant", "adjustment"] = "adjustment" if adjust else "grant"
        return await self._call(self.client.grant_credits(owner, amount, type=kind, note=note))

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self.client.aclose()


async def _every(interval_s: float, action: Callable[[], object]) -> None:
    """Call ``action`` every ``interval_s`` seconds until canceled."""
    while True:
        await asyncio.sleep(interval_s)
        action()


def _reason(exc: httpx.HTTPError) -> str:
    """A one-line reason for a transport failure (some httpx errors have no message)."""
    if isinstance(exc, httpx.LocalProtocolError):  # its message may quote a header: the key
        return "the request could not be sent"
    return " ".join(str(exc).split()) or type(exc).__name__


def open_backend(
    *,
    url: str | None,
    key: str | None,
    app_path: str | None,
    database_url: str | None,
    needs_app: bool = False,
) -> JobsBackend:
    """`RemoteBackend` when ``url`` is given (``--app``/``--database-url`` then unused), else
    `LocalBackend` over `make_app`."""
    if url:
        return RemoteBackend(url, key)
    return LocalBackend(make_app(app_path, database_url, needs_app))


def load_app(path: str) -> Backburner:
    """Import ``module:attribute`` and check it is a `Backburner` (`ConfigError` if not)."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"APP must look like module:attribute, got {path!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load APP {path!r}: {exc}") from None
    if not isinstance(target, Backburner):
        raise ConfigError(f"APP {path!r} is a {type(target).__name__}, not a backburner.Backburner")
    return target


def make_app(app_path: str | None, database_url: str | None, needs_app: bool) -> Backburner:
    """The app from ``--app`` (on ``--database-url`` when given), else a bare one."""
    if app_path is None:
        if needs_app:
            raise ConfigError(
                "this command needs the app: pass --app module:attribute or BACKBURNER_APP"
            )
        return Backburner(database_url)
    app = load_app(app_path)
    if database_url is not None and database_url != app.settings.database_url:
        # Not opened yet, so swapping the settings is safe; build() validates the URL.
        values = {**app.settings.model_dump(), "database_url": database_url}
        app.settings = Settings.build(**values)
        if app.settings.artifacts_dir is None:  # derived from the database: moved with it
            app.artifacts = Artifacts.from_settings(app.settings)
    return app
