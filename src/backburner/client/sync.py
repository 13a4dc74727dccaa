"""`Client`: the blocking client, over `BaseClient`."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Mapping
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

__all__ = ["Client"]


class Client(BaseClient):
    """A blocking client for a backburner server; close it, or use it in ``with``.

    ```python
    with bb.Client("http://localhost:8000", api_key) as client:
        job = client.submit("chapter", {"journal_entry": "…"}, wait=30)
    ```

    ``transport`` replaces httpx's network transport (tests: ``httpx.MockTransport``).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout=timeout)
        self._http = httpx.Client(base_url=self.base_url, transport=transport)

    def _send(self, call: _Call[T]) -> T:
        return call.parse(self._http.request(**self._request(call)))

    def submit(
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
        return self._send(call)

    def events(self, job_id: str, *, after: int = 0) -> Iterator[Event]:
        """The job's events after ``seq`` ``after``, live, ending after its last one.

        A dropped connection is resumed from the last event received (a few times).
        """
        for _ in range(EVENT_RECONNECTS):
            try:
                for event in self._stream_events(job_id, after):
                    yield event
                    after = event.seq
                    if is_final(event):
                        return
                return  # 204: nothing more will come
            except httpx.TransportError:
                continue
        raise ApiRequestError(f"the event stream of job {job_id} kept dropping")

    def _stream_events(self, job_id: str, after: int) -> Iterator[Event]:
        parser = SseParser()
        with self._http.stream(**self._events_request(job_id, after)) as response:
            if not response.is_success:
                response.read()
                _checked(response)
            if response.status_code == 204:
                return
            for line in response.iter_lines():
                if (event := parser.feed(line)) is not None:
                    yield event

    def get(self, job_id: str) -> Job:
        """The job now; `JobNotFound` for an unknown id or another owner's job."""
        return self._send(self._get_call(job_id))

    def list(
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
        return self._send(self._list_call(**filters))

    def get_many(self, job_ids: builtins.list[str]) -> builtins.list[Job]:
        """Up to 100 jobs in one request; unknown ids and others' jobs are left out."""
        return self._send(self._get_many_call(job_ids))

    def wait(
        self,
        job_id: str,
        timeout: float | None = None,
        on_change: Callable[[Job], object] | None = None,
    ) -> Job:
        """Long-poll until the job succeeds, fails or is canceled, and return it; `JobTimeout`
        after ``timeout`` seconds. ``on_change(job)`` is called with the first state seen and
        whenever the status, progress or message changes (within a second)."""
        waiter = _Waiter(job_id, timeout, on_change)
        job = self.get(job_id)
        while not waiter.seen(job):
            job = self._send(self._next_wait_call(waiter))
        return job

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job now; a running one is stopped by its worker."""
        return self._send(self._action_call(job_id, "cancel"))

    def retry(self, job_id: str) -> Job:
        """Re-queue a failed or canceled job: the same id, its saved input."""
        return self._send(self._action_call(job_id, "retry"))

    def delete(self, job_id: str) -> None:
        """Delete the job with its events; a running one is stopped by its worker."""
        self._send(self._delete_call(job_id))

    def credits(
        self, *, owner: str | None = None, limit: int = 20, before: int | None = None
    ) -> CreditReport:
        """The key's owner's credits (admin keys: any ``owner``'s) and newest entries."""
        return self._send(self._credits_call(owner, limit, before))

    def grant_credits(
        self,
        owner: str,
        amount: float,
        *,
        type: Literal["grant", "adjustment"] = "grant",
        note: str | None = None,
    ) -> CreditEntry:
        """Grant (or with ``type="adjustment"``, correct by ``amount``) an owner's credits:
        admin keys only."""
        return self._send(self._grant_call(owner, amount, type, note))

    def kinds(self) -> builtins.list[dict[str, Any]]:
        """Every kind the server runs: name, input and output JSON schemas, policy."""
        return self._send(self._kinds_call())

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
