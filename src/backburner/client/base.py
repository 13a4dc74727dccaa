"""Internal: `BaseClient` — builds requests and reads responses, without any I/O.

`Client` and `AsyncClient` send what it builds; it turns every answer into a `Job` or one of
the `errors` classes. It imports only the core: no FastAPI, no SQLAlchemy.
"""

from __future__ import annotations

import builtins
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from ..errors import (
    ApiRequestError,
    BackburnerError,
    ConfigError,
    Forbidden,
    InputTooLarge,
    InputValidationError,
    InsufficientCredits,
    InvalidInput,
    InvalidTransition,
    JobNotFound,
    JobTimeout,
    LimitExceeded,
    NotBackburner,
    RateLimited,
    StorageError,
    Unauthorized,
)
from ..jobs import Event, Job, JobStatus, Webhook
from ..ledger import CreditEntry

__all__ = ["BaseClient", "CreditReport", "JobList", "SseParser", "is_final"]

T = TypeVar("T")

#: The longest long-poll the server holds (``?wait`` and ``Prefer: wait``), in seconds.
MAX_WAIT_S = 60
#: While `wait` reports changes, it long-polls this long so progress shows within a second.
_PROGRESS_POLL_S = 1

#: Errors whose class alone says what went wrong; the problem's ``detail`` is the message.
_SIMPLE_ERRORS: dict[int, type[BackburnerError]] = {
    402: InsufficientCredits,
    404: JobNotFound,
    409: InvalidTransition,
    413: InputTooLarge,
    503: StorageError,
}
_API_ERRORS: dict[int, type[ApiRequestError]] = {401: Unauthorized, 403: Forbidden}


class CreditReport(BaseModel):
    """An owner's credits, as `GET /v1/credits` gives them: ``available`` is what a new
    submit may spend; ``entries`` newest first (``next_before`` pages to older ones)."""

    owner: str
    balance: float
    reserved: float
    available: float
    entries: list[CreditEntry]
    next_before: int | None = None


class JobList(BaseModel):
    """A page of jobs, newest first (the fields of `JobPage`); pass ``next_cursor`` as
    ``cursor`` to `Client.list` for the next page, ``None`` on the last."""

    jobs: list[Job]
    next_cursor: str | None = None


@dataclass(frozen=True)
class _Call(Generic[T]):
    """Internal: one HTTP request, and how to read its successful response."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    #: Extra seconds the server may hold the request (a long-poll).
    hold_s: float = 0


@dataclass
class _Waiter:
    """Internal: the state of one `wait`: the deadline, the last change reported."""

    job_id: str
    timeout: float | None
    on_change: Callable[[Job], object] | None
    deadline: float | None = None
    last: tuple[JobStatus, float | None, str | None] | None = None
    last_look: bool = False

    def __post_init__(self) -> None:
        if self.timeout is not None:
            self.deadline = time.monotonic() + self.timeout

    def seen(self, job: Job) -> bool:
        """Report ``job`` to ``on_change`` if it changed; True once it is finished."""
        state = (job.status, job.progress, job.message)
        if state != self.last and self.on_change is not None:
            self.on_change(job)
        self.last = state
        return job.finished

    def next_wait_s(self) -> int | None:
        """Seconds for the next long-poll (``None``: one last plain look); `JobTimeout` once
        the time is up."""
        cap = _PROGRESS_POLL_S if self.on_change is not None else MAX_WAIT_S
        if self.deadline is None:
            return cap
        if self.last_look:
            raise JobTimeout(f"job {self.job_id} did not finish within {self.timeout}s")
        wait_s = min(cap, math.floor(self.deadline - time.monotonic()))
        if wait_s < 1:  # the server waits whole seconds: look once more, never past the deadline
            self.last_look = True
            return None
        return wait_s


class BaseClient:
    """What `Client` and `AsyncClient` share, without I/O: the requests each call makes, and
    the results (or errors) read from the responses.

    HTTP errors become the library's exceptions: 404 `JobNotFound` (also another owner's
    job), 409 `InvalidTransition`, 413 `InputTooLarge`, 422 `InvalidInput` (or
    `InputValidationError` with the field list), 401 `Unauthorized`, 402
    `InsufficientCredits`, 403 `Forbidden`, 429 `LimitExceeded` (too many queued jobs) or
    `RateLimited` (with the ``Retry-After`` seconds), 503 `StorageError`, any other
    `ApiRequestError`.
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 10.0) -> None:
        if not api_key or not all(33 <= ord(ch) < 127 for ch in api_key):
            # Never echoed: httpx would quote such a header, key and all, in its error.
            raise ConfigError("api_key: must be printable ASCII without spaces (a bb_… key)")
        self.base_url = base_url.rstrip("/")
        #: Seconds to connect, send and read a reply, on top of any time the server holds it.
        self.timeout = timeout
        self._auth = {"Authorization": f"Bearer {api_key}"}

    def _request(self, call: _Call[Any]) -> dict[str, Any]:
        """The keyword arguments of ``httpx`` ``request()`` for ``call``."""
        return {
            "method": call.method,
            "url": call.path,
            "params": call.params,
            "headers": {**self._auth, **call.headers},
            "json": call.json,
            "timeout": self.timeout + call.hold_s,
        }

    def _events_request(self, job_id: str, after: int) -> dict[str, Any]:
        """The keyword arguments of ``httpx`` ``stream()`` for a job's event stream."""
        return {
            "method": "GET",
            "url": f"{_job_path(job_id)}/events",
            "params": {"after": after},
            "headers": {**self._auth, "Accept": "text/event-stream"},
            "timeout": httpx.Timeout(self.timeout, read=None),  # a stream may idle long
        }

    def _submit_call(
        self,
        kind: str,
        input: Any,
        *,
        scope: str | None,
        dedupe_key: str | None,
        priority: int,
        reuse: str | None,
        idempotency_key: str | None,
        wait: int | None,
        webhook: Webhook | Mapping[str, Any] | None = None,
    ) -> _Call[Job]:
        body = {"kind": kind, "input": input, "scope": scope, "dedupe_key": dedupe_key}
        body |= {"priority": priority, "reuse": reuse}
        if webhook is not None:
            body["webhook"] = webhook.model_dump() if isinstance(webhook, Webhook) else webhook
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        if wait is not None:
            headers["Prefer"] = f"wait={wait}"
        return _Call("POST", "/v1/jobs", _job, headers=headers, json=body, hold_s=wait or 0)

    def _get_call(self, job_id: str, wait: int | None = None) -> _Call[Job]:
        params = {} if wait is None else {"wait": wait}
        return _Call("GET", _job_path(job_id), _job, params=params, hold_s=wait or 0)

    def _list_call(self, **filters: Any) -> _Call[JobList]:
        params = {name: _param(value) for name, value in filters.items() if value is not None}
        return _Call("GET", "/v1/jobs", _job_list, params=params)

    def _get_many_call(self, job_ids: builtins.list[str]) -> _Call[builtins.list[Job]]:
        return _Call("POST", "/v1/jobs/batch", _jobs, json={"ids": job_ids})

    def _action_call(self, job_id: str, action: str) -> _Call[Job]:
        return _Call("POST", f"{_job_path(job_id)}/{action}", _job)

    def _delete_call(self, job_id: str) -> _Call[None]:
        return _Call("DELETE", _job_path(job_id), _nothing)

    def _credits_call(
        self, owner: str | None, limit: int, before: int | None
    ) -> _Call[CreditReport]:
        params = {"owner": owner, "limit": limit, "before": before}
        params = {name: value for name, value in params.items() if value is not None}
        return _Call("GET", "/v1/credits", _credit_report, params=params)

    def _grant_call(
        self, owner: str, amount: float, type_: str, note: str | None
    ) -> _Call[CreditEntry]:
        body = {"owner": owner, "amount": amount, "type": type_, "note": note}
        return _Call("POST", "/v1/admin/credits", _granted, json=body)

    def _kinds_call(self) -> _Call[builtins.list[dict[str, Any]]]:
        return _Call("GET", "/v1/kinds", _kinds)

    def _next_wait_call(self, waiter: _Waiter) -> _Call[Job]:
        return self._get_call(waiter.job_id, waiter.next_wait_s())


def _job_path(job_id: str) -> str:
    return f"/v1/jobs/{quote(job_id, safe='')}"


def _param(value: Any) -> Any:
    """A query value: booleans as ``true``/``false``, lists repeated, the rest as given."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _checked(response: httpx.Response) -> httpx.Response:
    """``response`` if it succeeded, else the error its problem+json body describes."""
    if response.is_success:
        return response
    raise _error(response.status_code, _problem(response), response.headers.get("Retry-After"))


def _problem(response: httpx.Response) -> dict[str, Any]:
    """The problem body; `NotBackburner` when something else (a proxy's page) answered."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    raise _foreign(response, f"HTTP {response.status_code}, not problem+json")


def _foreign(response: httpx.Response, why: str) -> NotBackburner:
    """The error for an answer that is not backburner's; never the raw body (it may be a
    whole HTML page, or echo what was sent)."""
    url = response.url.copy_with(path="/", query=None)
    return NotBackburner(
        f"{str(url).rstrip('/')} did not answer like a backburner server ({why})",
        status=response.status_code,
    )


def _error(status: int, problem: dict[str, Any], retry_after: str | None) -> BackburnerError:
    """The library's exception for an HTTP error."""
    detail = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
    if status in _SIMPLE_ERRORS:
        return _SIMPLE_ERRORS[status](detail)
    if status == 429 and problem.get("type") == "/problems/limit-exceeded":
        return LimitExceeded(detail)
    if status == 429 and problem.get("type") == "/problems/rate-limited":
        seconds = retry_after if retry_after and retry_after.isdigit() else "1"
        return RateLimited(detail, float(seconds))
    if status == 422:
        errors = problem.get("errors")
        if isinstance(errors, builtins.list) and errors:
            return InputValidationError(detail, [_field_error(e) for e in errors])
        return InvalidInput(detail)
    return _API_ERRORS.get(status, ApiRequestError)(detail, status=status, problem=problem)


def _field_error(error: dict[str, Any]) -> dict[str, Any]:
    """A wire ``{field, message}`` with pydantic's ``loc`` and ``msg`` keys added."""
    path = str(error.get("field", ""))
    return {**error, "loc": tuple(path.split(".")), "msg": error.get("message", "")}


def _parsed(response: httpx.Response, read: Callable[[Any], T]) -> T:
    """A successful response's JSON read by ``read``; an `ApiRequestError` when what answered
    is not a backburner server (an HTML page, another API)."""
    body = _checked(response)
    try:
        return read(body.json())
    except (ValueError, KeyError, TypeError) as exc:  # pydantic's ValidationError included
        raise _foreign(response, type(exc).__name__) from None


def _job(response: httpx.Response) -> Job:
    return _parsed(response, Job.model_validate)


def _job_list(response: httpx.Response) -> JobList:
    return _parsed(response, JobList.model_validate)


def _jobs(response: httpx.Response) -> builtins.list[Job]:
    return _job_list(response).jobs


def _kinds(response: httpx.Response) -> builtins.list[dict[str, Any]]:
    return _parsed(response, lambda body: builtins.list(body["kinds"]))


def _credit_report(response: httpx.Response) -> CreditReport:
    return _parsed(response, CreditReport.model_validate)


def _granted(response: httpx.Response) -> CreditEntry:
    return _parsed(response, lambda body: TypeAdapter(CreditEntry).validate_python(body["entry"]))


def _nothing(response: httpx.Response) -> None:
    _checked(response)


class SseParser:
    """Server-Sent Events lines in, `Event` objects out (no I/O).

    ``feed`` each line without its newline; it returns an event when a blank line ends one.
    """

    def __init__(self) -> None:
        self._data: builtins.list[str] = []

    def feed(self, line: str) -> Event | None:
        """The event this line completes, if any."""
        if not line:
            payload, self._data = "\n".join(self._data), []
            return Event.model_validate_json(payload) if payload else None
        name, _, value = line.partition(":")
        if name == "data":  # id and event repeat what the data carries: seq and type
            self._data.append(value.removeprefix(" "))
        return None


def is_final(event: Event) -> bool:
    """Whether ``event`` is a job's last: its move to succeeded, failed or canceled."""
    return event.type == "status" and event.data.get("status") in _FINAL


_FINAL = frozenset({"succeeded", "failed", "canceled"})
#: Reconnects of one `events` call after a dropped connection, resuming by ``seq``.
EVENT_RECONNECTS = 5
