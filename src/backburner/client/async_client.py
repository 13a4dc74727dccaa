"""`AsyncClient`: the asyncio client, over `BaseClient`."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any, Literal, Self

import httpx

from ..errors import ApiRequestError
from ..jobs import Event, Job, JobStatus, Webhook
from ..ledger import CreditEntry
from .base import (
    EVENT_RECONNECTS,
    BaseClient,
    CreditReport,
    JobList,
    SseParser,
    T,
    _Call,
    _checked,
    _Waiter,
    is_final,
)

__all__ = ["AsyncClient"]


class AsyncClient(BaseClient):
    """An asyncio client for a backburner server; ``await aclose()``, or ``async with``.

    ```python
    async with bb.AsyncClient("http://localhost:8000", api_key) as client:
        job = await client.submit("chapter", {"journal_entry": "…"})
        job = await client.wait(job.id, timeout=300)
    ```

    ``transport`` replaces httpx's network transport (tests: ``httpx.ASGITransport``).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout=timeout)
        self._http = httpx.AsyncClient(base_url=self.base_url, transport=transport)

    async def _send(self, call: _Call[T]) -> T:
        return call.parse(await self._http.request(**self._request(call)))

    async def submit(
        self,
        kind: str,
        input: Any = None,
        *,
        scope: str | None = None,
        dedupe_key: str | None = None,
        priority: int = 0,
        reuse: str | None = None,
        idempotency_key: str | None = None,
        wait: int | None = None,
        webhook: Webhook | Mapping[str, Any] | None = None,
    ) -> Job:
        """Submit a job of ``kind`` as the key's owner. ``wait=N`` (1–60) holds the request
        until the job finishes or N seconds pass; the same ``idempotency_key`` within 24 h
        returns the same job; ``webhook`` (``{"url", "events"}``) POSTs its status changes."""
        call = self._submit_call(
            kind, input, scope=scope, dedupe_key=dedupe_key, priority=priority, reuse=reuse,
            idempotency_key=idempotency_key, wait=wait, webhook=webhook,
        )  # fmt: skip
        return await self._send(call)

    async def events(self, job_id: str, *, after: int = 0) -> AsyncIterator[Event]:
        """The job's events after ``seq`` ``after``, live, ending after its last one.

        A dropped connection is resumed from the last event received (a few times).
        """
        for _ in range(EVENT_RECONNECTS):
            try:
                async for event in self._stream_events(job_id, after):
                    yield event
                    after = event.seq
                    if is_final(event):
                        return
                return  # 204: nothing more will come
            except httpx.TransportError:
                continue
        raise ApiRequestError(f"the event stream of job {job_id} kept dropping")

    async def _stream_events(self, job_id: str, after: int) -> AsyncIterator[Event]:
        parser = SseParser()
        async with self._http.stream(**self._events_request(job_id, after)) as response:
            if not response.is_success:
                await response.aread()
                _checked(response)
            if response.status_code == 204:
                return
            async for line in response.aiter_lines():
                if (event := parser.feed(line)) is not None:
                    yield event

    async def get(self, job_id: str) -> Job:
        """The job now; `JobNotFound` for an unknown id or another owner's job."""
        return await self._send(self._get_call(job_id))

    async def list(
        self,
        *,
        scope: str | None = None,
        status: JobStatus | str | builtins.list[JobStatus | str] | None = None,
        kind: str | None = None,
        dedupe_key: str | None = None,
        active: bool | None = None,
        owner: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> JobList:
        """A page of the key's jobs, newest first (``owner=`` for admin keys only)."""
        filters: dict[str, Any] = {
            "scope": scope,
            "status": status,
            "kind": kind,
            "dedupe_key": dedupe_key,
        }
        filters |= {"active": active, "owner": owner, "cursor": cursor, "limit": limit}
        return await self._send(self._list_call(**filters))

    async def get_many(self, job_ids: builtins.list[str]) -> builtins.list[Job]:
        """Up to 100 jobs in one request; unknown ids and others' jobs are left out."""
        return await self._send(self._get_many_call(job_ids))

    async def wait(
        self,
        job_id: str,
        timeout: float | None = None,  # noqa: ASYNC109 - the same call as Client.wait
        on_change: Callable[[Job], object] | None = None,
    ) -> Job:
        """Long-poll until the job succeeds, fails or is canceled, and return it; `JobTimeout`
        after ``timeout`` seconds. ``on_change(job)`` (a plain function) is called with the
        first state seen and whenever the status, progress or message changes (within a
        second)."""
        waiter = _Waiter(job_id, timeout, on_change)
        job = await self.get(job_id)
        while not waiter.seen(job):
            job = await self._send(self._next_wait_call(waiter))
        return job

    async def cancel(self, job_id: str) -> Job:
        """Cancel a queued job now; a running one is stopped by its worker."""
        return await self._send(self._action_call(job_id, "cancel"))

    async def retry(self, job_id: str) -> Job:
        """Re-queue a failed or canceled job: the same id, its saved input."""
        return await self._send(self._action_call(job_id, "retry"))

    async def delete(self, job_id: str) -> None:
        """Delete the job with its events; a running one is stopped by its worker."""
        await self._send(self._delete_call(job_id))

    async def credits(
        self, *, owner: str | None = None, limit: int = 20, before: int | None = None
    ) -> CreditReport:
        """The key's owner's credits (admin keys: any ``owner``'s) and newest entries."""
        return await self._send(self._credits_call(owner, limit, before))

    async def grant_credits(
        self,
        owner: str,
        amount: float,
        *,
        type: Literal["grant", "adjustment"] = "grant",
        note: str | None = None,
    ) -> CreditEntry:
        """Grant (or with ``type="adjustment"``, correct by ``amount``) an owner's credits:
        admin keys only."""
        return await self._send(self._grant_call(owner, amount, type, note))

    async def kinds(self) -> builtins.list[dict[str, Any]]:
        """Every kind the server runs: name, input and output JSON schemas, policy."""
        return await self._send(self._kinds_call())

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
