"""`Backburner`: the app — settings, storage and kinds; ``@app.task``; submit, get, list, …"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from .apikeys import hash_key, new_key
from .artifacts import Artifacts
from .config import Settings
from .credits import Credits
from .durations import Duration
from .errors import InvalidInput, JobNotFound, JobTimeout
from .jobs import Event, Job, JobStatus, Webhook
from .kinds import Handler, Kind, KindPolicy, Registry
from .operations import Operations
from .retry import RetryPolicy
from .storage import ApiKey, JobPage, JobQuery, Storage, WebhookDelivery, create_storage
from .storage.stats_sql import JobCount
from .submissions import build_new_job, check_text, checked_webhook, statuses
from .tokens import (
    MAX_TTL_S,
    SECRET_NAME,
    BrowserToken,
    InvalidToken,
    mint_token,
    read_token,
)
from .webhooks.signing import derive_secret
from .worker import Worker

if TYPE_CHECKING:
    from .metrics import JobMetrics

__all__ = ["Backburner"]

#: How long a found API key is trusted without looking it up again.
KEY_CACHE_S = 5.0
_KEY_CACHE_SIZE = 10_000

#: The server secret webhook signing secrets are derived from.
WEBHOOK_SECRET_NAME = "webhook_signing"

H = TypeVar("H", bound=Handler)

_MAX_PAGE = 1000


class Backburner:
    """A backburner app: where jobs are stored and which kinds it knows.

    ```python
    app = bb.Backburner()                   # BACKBURNER_DATABASE_URL, default sqlite:///backburner.db

    @app.task(timeout="2m", attempts=3)
    async def chapter(ctx: bb.Context, entry: ChapterIn) -> ChapterOut: ...

    job = await app.submit("chapter", {"journal_entry": "…"}, owner="alice")
    ```

    Nothing connects until first use; `open` connects (and migrates) explicitly.
    """

    def __init__(
        self, database_url: str | None = None, *, settings: Settings | None = None
    ) -> None:
        #: The validated configuration.
        self.settings = settings or Settings.from_env(database_url=database_url)
        #: The registered kinds.
        self.kinds = Registry()
        self._storage: Storage | None = None
        self._lock = threading.Lock()
        self._metrics: JobMetrics | None = None
        #: Keys recently found, by hash: ``(valid until, key)``.
        self._keys: dict[str, tuple[float, ApiKey]] = {}
        #: Owners' credits: ``await app.credits.grant("alice", 10)`` (see `backburner.ledger`).
        self.credits = Credits(self)
        #: The operator's view and bulk actions: ``await app.operations.overview()``.
        self.operations = Operations(self)
        #: Jobs' binary outputs (`backburner.artifacts`); assign one over another store to move.
        self.artifacts = Artifacts.from_settings(self.settings)

    # ── kinds ─────────────────────────────────────────────────────────────
    @overload
    def task(self, fn: H, /) -> H: ...
    @overload
    def task(
        self,
        *,
        name: str | None = None,
        timeout: Duration | None = None,
        attempts: int = 3,
        backoff: RetryPolicy | Duration | None = None,
        slow_after: Duration = "10m",
        expire_after: Duration = "24h",
        concurrency: int | None = None,
        owner_concurrency: int | None = None,
        cost: float | Callable[[Any], float] = 0,
        refund: bool = True,
    ) -> Callable[[H], H]: ...
    def task(self, fn: H | None = None, /, *, name: str | None = None, **policy: Any) -> Any:  # type: ignore[misc]
        """Register a handler as a kind (named after the function unless ``name`` is given).

        The handler takes ``(ctx, input)``; the input's annotation (a pydantic model, or any
        type pydantic validates) checks every submit, and the return annotation checks the
        output. ``async def`` handlers run on the worker's loop, plain ``def`` ones in threads.
        """
        kind_policy = KindPolicy.build(**policy)

        def register(handler: H) -> H:
            self.kinds.add(Kind.from_handler(name or handler.__name__, handler, kind_policy))
            return handler

        return register(fn) if fn is not None else register

    # ── connection ────────────────────────────────────────────────────────
    async def open(self) -> Storage:
        """Connect and migrate, once; returns the storage (for the worker and the API).

        Safe to call from many coroutines (and threads) at once: they share one storage,
        and the storage migrates once. A failed open is retried by the next call.
        """
        with self._lock:
            if self._storage is None:
                self._storage = create_storage(self.settings)
            storage = self._storage
        await storage.open()
        return storage

    async def ready(self) -> None:
        """Raise `StorageError` unless the database answers and its schema is current."""
        await (await self.open()).check_ready()

    async def close(self) -> None:
        """Release the database connections."""
        storage, self._storage = self._storage, None
        if storage is not None:
            await storage.close()

    async def __aenter__(self) -> Backburner:
        await self.open()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # ── jobs ──────────────────────────────────────────────────────────────
    async def submit(
        self,
        kind: str,
        input: Any,
        *,
        owner: str = "default",
        scope: str | None = None,
        dedupe_key: str | None = None,
        priority: int = 0,
        reuse: Literal["succeeded"] | None = None,
        idempotency_key: str | None = None,
        webhook: Webhook | Mapping[str, Any] | None = None,
    ) -> Job:
        """Store a new queued job and return it; nothing waits on the handler.

        With ``dedupe_key``, an active job with the same key (for the same owner) is returned
        instead (``job.deduplicated`` is then true); with ``reuse="succeeded"`` a succeeded one
        is returned too. The same ``idempotency_key`` from the same owner within 24 h returns
        the job it first made. With ``webhook`` (``{"url": …, "events": […]}``), its status
        changes are POSTed there, signed with `webhook_secret`. Bad input raises an
        `InvalidInput` naming the field; nothing is stored.
        """
        new = build_new_job(
            self.kinds,
            self.settings,
            kind,
            input,
            owner=owner,
            scope=scope,
            dedupe_key=dedupe_key,
            priority=priority,
            reuse=reuse,
            idempotency_key=idempotency_key,
        )
        if webhook is not None:  # after the cheap checks: this one resolves the host
            new = dataclasses.replace(new, webhook=await checked_webhook(webhook, self.settings))
        storage = await self.open()
        return await storage.insert_job(new)

    async def get(self, job_id: str) -> Job:
        """The job with this id, or `JobNotFound`."""
        job = await (await self.open()).get_job(job_id)
        if job is None:
            raise JobNotFound(f"no job with id {job_id!r}")
        return job

    async def get_many(self, job_ids: builtins.list[str]) -> builtins.list[Job]:
        """Many jobs in one query, in the order asked; unknown ids are left out."""
        return await (await self.open()).get_jobs(job_ids)

    async def list(
        self,
        *,
        owner: str | None = None,
        scope: str | None = None,
        status: JobStatus | str | Iterable[JobStatus | str] | None = None,
        kind: str | None = None,
        dedupe_key: str | None = None,
        active: bool | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> JobPage:
        """Jobs newest first, filtered; pass ``page.next_cursor`` back as ``cursor`` for more."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _MAX_PAGE:
            raise InvalidInput(f"limit: must be a whole number from 1 to {_MAX_PAGE}")
        query = JobQuery(
            owner=owner,
            scope=scope,
            statuses=statuses(status, active),
            kind=kind,
            dedupe_key=dedupe_key,
            cursor=cursor,
            limit=limit,
        )
        return await (await self.open()).list_jobs(query)

    async def cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once; a running one is stopped by its worker."""
        return await (await self.open()).cancel_job(job_id)

    async def retry(self, job_id: str) -> Job:
        """Put a failed or canceled job back in the queue: the same row, its saved input."""
        storage = await self.open()
        job = await self.get(job_id)
        try:
            policy = self.kinds.get(job.kind).policy
        except InvalidInput:
            policy = KindPolicy()
        return await storage.retry_job(
            job_id,
            slow_after_s=policy.slow_after_s,
            expire_after_s=policy.expire_after_s,
            max_queued=self.settings.owner_max_queued,
        )

    async def delete(self, job_id: str) -> None:
        """Delete a job, its events, steps and artifacts; a running one is stopped first."""
        if not await (await self.open()).delete_job(job_id):
            raise JobNotFound(f"no job with id {job_id!r}")
        await self.artifacts.delete_job(job_id)

    async def events(self, job_id: str, *, after_seq: int = 0) -> builtins.list[Event]:
        """The job's event log after ``after_seq``."""
        return await (await self.open()).list_events(job_id, after_seq=after_seq)

    async def scope_events(
        self, owner: str, scope: str | None, *, after_id: int = 0, limit: int = 500
    ) -> builtins.list[tuple[int, Event]]:
        """Events of ``owner``'s jobs in ``scope`` (``None``: all of them) after the global event
        id ``after_id``, as ``(id, event)`` in id order: one feed for many jobs, resumable."""
        return await (await self.open()).list_scope_events(
            owner, scope, after_id=after_id, limit=limit
        )

    async def wait(self, job_id: str, timeout: float | None = None) -> Job:  # noqa: ASYNC109 - the public API the DESIGN names
        """Wait until the job succeeds, fails or is canceled; `JobTimeout` after ``timeout`` s."""
        async for (job,) in self.watch([job_id], timeout=timeout):
            if job.finished:
                return job
        raise AssertionError("watch() ends only when every job has finished")  # pragma: no cover

    async def watch(
        self,
        job_ids: builtins.list[str],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - as in wait(); a deadline over many yields
        refresh_s: float = 0.5,
    ) -> AsyncIterator[builtins.list[Job]]:
        """Yield the jobs (in the order asked) whenever they may have changed, until all finish.

        ```python
        async for (job,) in app.watch([job.id]):
            print(f"{job.progress or 0:.0%} {job.message}")
        ```

        It yields at least every ``refresh_s`` seconds; the last yield has every job
        finished. Raises `JobNotFound` if a job does not exist (or is deleted meanwhile) and
        `JobTimeout` after ``timeout`` seconds.
        """
        storage = await self.open()
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            jobs = await self.get_many(job_ids)
            if len(jobs) < len(set(job_ids)):
                missing = sorted(set(job_ids) - {j.id for j in jobs})
                raise JobNotFound(f"no job with id {missing[0]!r}")
            yield jobs
            if all(job.finished for job in jobs):
                return
            remaining = refresh_s if deadline is None else deadline - loop.time()
            if remaining <= 0:
                waiting = next(job for job in jobs if not job.finished)
                raise JobTimeout(
                    f"job {waiting.id} is still {waiting.status.value} after {timeout:g}s"
                )
            await storage.wait_for_change(min(remaining, refresh_s))

    # ── API keys ──────────────────────────────────────────────────────────
    async def create_api_key(self, owner: str, *, admin: bool = False) -> tuple[str, str]:
        """Make an API key acting as ``owner``; returns ``(key_id, key)``. Show the key once:
        only its hash is stored."""
        check_text("owner", owner, required=True)
        key_id, key = new_key()
        await (await self.open()).insert_api_key(ApiKey(key_id, owner, admin), hash_key(key))
        return key_id, key

    async def authenticate(self, key: str) -> ApiKey | None:
        """The unrevoked API key ``key`` is, or ``None``. A key found is remembered for
        `KEY_CACHE_S` (every request looks its key up): revoking it in another process takes
        effect here within that time; in this process, at once."""
        key_hash = hash_key(key)
        now = time.monotonic()
        cached = self._keys.get(key_hash)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await (await self.open()).find_api_key(key_hash)
        if found is not None:
            if len(self._keys) >= _KEY_CACHE_SIZE:
                self._keys.clear()
            self._keys[key_hash] = (now + KEY_CACHE_S, found)
        return found

    async def revoke_api_key(self, key_id: str) -> None:
        """Revoke a key by its id; `InvalidInput` when there is no such (unrevoked) key."""
        self._keys.clear()
        if not await (await self.open()).revoke_api_key(key_id):
            raise InvalidInput(f"key_id: no unrevoked API key with id {key_id!r}")

    # ── browser tokens ────────────────────────────────────────────────────
    async def create_browser_token(
        self, owner: str, scope: str | None = None, ttl_s: int = 900
    ) -> BrowserToken:
        """A short-lived token acting as ``owner`` (only in ``scope``, if given) for a web page,
        signed with a secret kept in the database, so every API node accepts it."""
        check_text("owner", owner, required=True)
        check_text("scope", scope, required=False)
        if not 1 <= ttl_s <= MAX_TTL_S:
            raise InvalidInput(f"ttl_s: must be 1–{MAX_TTL_S} seconds")
        now = time.time()
        secret = await (await self.open()).get_secret(SECRET_NAME)
        token = mint_token(secret, owner, scope, ttl_s, now)
        expires_at = datetime.fromtimestamp(int(now) + ttl_s, UTC)
        return BrowserToken(token, owner, scope, expires_at)

    async def read_browser_token(self, token: str) -> tuple[str, str | None]:
        """``(owner, scope)`` of a valid browser token; `InvalidToken` (why) otherwise."""
        # Only find: a stranger's made-up token must not make the server write a secret.
        secret = await (await self.open()).find_secret(SECRET_NAME)
        if secret is None:
            raise InvalidToken("the token's signature is not valid")  # as for a forged one
        return read_token(secret, token, time.time())

    # ── webhooks ──────────────────────────────────────────────────────────
    async def webhook_secret(self, owner: str) -> str:
        """The ``whsec_…`` secret ``owner``'s webhook deliveries are signed with (receivers check
        them with `backburner.webhooks.verify`); derived from a server secret in the database."""
        check_text("owner", owner, required=True)
        master = await (await self.open()).get_secret(WEBHOOK_SECRET_NAME)
        return derive_secret(master, owner)

    async def webhook_deliveries(self, job_id: str) -> builtins.list[WebhookDelivery]:
        """The job's webhook deliveries, oldest first: status, attempts, last error."""
        return await (await self.open()).list_webhook_deliveries(job_id)

    # ── metrics ───────────────────────────────────────────────────────────
    @property
    def metrics(self) -> JobMetrics:
        """This app's Prometheus metrics (made on first use): ``app.metrics.render(counts)``."""
        if self._metrics is not None:  # set once, never unset: no lock needed to read it
            return self._metrics
        with self._lock:
            if self._metrics is None:
                from .metrics import JobMetrics  # prometheus_client only when metrics are used

                self._metrics = JobMetrics()
            return self._metrics

    async def job_counts(self) -> builtins.list[JobCount]:
        """Jobs counted by kind, status, error type and runnability, in one query."""
        return await (await self.open()).count_jobs()

    # ── running ───────────────────────────────────────────────────────────
    def worker(self, *, concurrency: int | None = None, burst: bool = False) -> Worker:
        """A `Worker` for this app; ``async with app.worker():`` runs it in the background."""
        return Worker(self, concurrency=concurrency, burst=burst)
