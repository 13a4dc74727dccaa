"""Live events as Server-Sent Events: ``GET /v1/jobs/{id}/events`` for one job,
``GET /v1/events?scope=…`` for all of an owner's jobs in a scope over one connection, and
``GET /v1/events`` (no scope) for all of the owner's jobs.

```js
const events = new EventSource(`/v1/jobs/${id}/events?access_token=${browserToken}`);
events.addEventListener("progress", (e) => show(JSON.parse(e.data)));
```

Each frame is ``id:`` (the job's ``seq``, or the global event id on the other streams),
``event:`` (the event's type) and ``data:`` (the event as JSON). A reconnect with
``Last-Event-ID`` resumes after that id; nothing is lost or repeated.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from ..app import Backburner
from ..jobs import TERMINAL_STATUSES, Event
from .auth import CallerDep, owned_job
from .errors import ApiError
from .fanout import Subscription, hub_for

__all__ = ["PING_S", "frame", "router"]

router = APIRouter(tags=["events"])

#: Seconds of silence before a ``: ping`` comment, so proxies keep the stream open.
PING_S = 15.0
#: The longest wait for a change before checking again that the client is still there.
_CHECK_S = 1.0
#: Events read (and sent) per query on the scope stream.
_BATCH = 500
_TERMINAL = frozenset(s.value for s in TERMINAL_STATUSES)
_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_SSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "an event stream", "content": {"text/event-stream": {}}}
}

#: Reads the events after an id, as ``(id, event)`` in id order.
Read = Callable[[int], Awaitable[list[tuple[int, Event]]]]
#: Whether the stream's subject still exists.
Alive = Callable[[], Awaitable[bool]]

AfterQuery = Annotated[
    int | None, Query(ge=0, description="send events after this id (0: from the start)")
]
LastEventIdHeader = Annotated[
    str | None, Header(description="the last id received; wins over ?after=")
]


def frame(event_id: int, event: Event) -> str:
    """One SSE frame: ``id``, ``event`` (the event's type) and the event as JSON ``data``."""
    return f"id: {event_id}\nevent: {event.type}\ndata: {event.model_dump_json()}\n\n"


def _is_terminal(event: Event) -> bool:
    return event.type == "status" and event.data.get("status") in _TERMINAL


def _app(request: Request) -> Backburner:
    app: Backburner = request.app.state.backburner
    return app


def _resume_point(last_event_id: str | None, after: int | None) -> int:
    """Where to start: ``Last-Event-ID`` (a browser's reconnect), else ``?after=``, else 0."""
    if last_event_id is None or not last_event_id.strip():
        return after or 0
    if not last_event_id.strip().isdigit():
        raise ApiError(
            400,
            "invalid-event-id",
            "Invalid Last-Event-ID",
            "Last-Event-ID: must be an id this stream sent (a whole number)",
        )
    return int(last_event_id)


async def _follow(
    request: Request,
    read: Read,
    after: int,
    subscription: AbstractAsyncContextManager[Subscription],
    *,
    until_terminal: bool,
    alive: Alive | None = None,
) -> AsyncIterator[str]:
    """Frames of the events after ``after``, then of each new one, until the client leaves
    (or, with ``until_terminal``, a terminal status event is sent, or ``alive`` says no).

    The backlog comes from the database (``read``); new events from the process's
    `EventHub`, subscribed to first so that nothing falls between the two.
    """
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    async with subscription as sub:
        delivered: list[tuple[int, Event]] | None = None  # None: read from the database
        while not await request.is_disconnected():
            batch = await read(after) if delivered is None else delivered
            sent = False
            for event_id, event in batch:
                if event_id <= after:
                    continue  # in the backlog read and delivered by the hub too
                yield frame(event_id, event)
                after, sent = event_id, True
                if until_terminal and _is_terminal(event):
                    return
            if delivered is None and len(batch) >= _BATCH:
                continue  # a long backlog: read the next page without waiting
            if sent:
                quiet_since = loop.time()
            elif loop.time() - quiet_since >= PING_S:
                if alive is not None and not await alive():
                    return
                yield ": ping\n\n"
                quiet_since = loop.time()
            await sub.wait(min(_CHECK_S, PING_S))
            delivered = sub.take()


def _stream(frames: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(frames, media_type="text/event-stream", headers=_HEADERS)


@router.get("/v1/jobs/{job_id}/events", response_class=StreamingResponse, responses=_SSE)
async def job_events(
    job_id: str,
    request: Request,
    caller: CallerDep,
    after: AfterQuery = None,
    last_event_id: LastEventIdHeader = None,
) -> Response:
    """The job's events (``id`` = its ``seq``) from the start or after ``Last-Event-ID``, then
    each new one; the stream ends after the terminal status event. A finished job with
    nothing after ``Last-Event-ID`` answers 204, which tells ``EventSource`` to stop."""
    app = _app(request)
    job = await owned_job(app, caller, job_id)
    start = _resume_point(last_event_id, after)
    if job.finished and not await app.events(job_id, after_seq=start):
        return Response(status_code=204)

    async def read(after_seq: int) -> list[tuple[int, Event]]:
        return [(e.seq, e) for e in await app.events(job_id, after_seq=after_seq)]

    async def alive() -> bool:
        return bool(await app.get_many([job_id]))

    subscription = hub_for(app, request.app.state).job(job_id)
    return _stream(_follow(request, read, start, subscription, until_terminal=True, alive=alive))


@router.get("/v1/events", response_class=StreamingResponse, responses=_SSE)
async def scope_events(
    request: Request,
    caller: CallerDep,
    scope: Annotated[
        str | None, Query(min_length=1, max_length=200, description="none: every scope")
    ] = None,
    owner: Annotated[str | None, Query(description="admin keys only")] = None,
    after: Annotated[
        str | None,
        Query(
            pattern=r"^(\d{1,18}|latest)$",
            description="send events after this id (0: from the start); `latest`: only "
            "events from now on, the starting id sent first as a `ready` event",
        ),
    ] = None,
    last_event_id: LastEventIdHeader = None,
) -> Response:
    """Events of all the caller's jobs in ``scope`` — without one, of all the caller's jobs
    (a scoped browser token: its scope) — with ``id`` = the global event id, from the start,
    after ``Last-Event-ID`` or ``?after=``, then each new one, until the client disconnects.

    ``?after=latest`` skips the history: a page lists the jobs it shows after the ``ready``
    event arrived, so that no change falls between the listing and the stream."""
    if owner is not None and not caller.admin:
        raise ApiError(403, "forbidden", "Forbidden", "owner: only admin keys may name an owner")
    scope = caller.scope_for(scope)  # a scoped browser token: its own, 403 for any other
    app = _app(request)
    whose = owner if owner is not None else caller.owner
    tail = after == "latest" and not (last_event_id or "").strip()
    start = _resume_point(last_event_id, None if after in (None, "latest") else int(after))
    if tail:
        start = (await (await app.open()).event_feed(None))[0]

    async def read(after_id: int) -> list[tuple[int, Event]]:
        return await app.scope_events(whose, scope, after_id=after_id, limit=_BATCH)

    subscription = hub_for(app, request.app.state).scope(whose, scope)
    frames = _follow(request, read, start, subscription, until_terminal=False)
    return _stream(_ready_first(start, frames) if tail else frames)


async def _ready_first(start: int, frames: AsyncIterator[str]) -> AsyncIterator[str]:
    """A ``ready`` frame naming the starting id (a reconnect resumes there), then ``frames``."""
    yield f'id: {start}\nevent: ready\ndata: {{"after": {start}}}\n\n'
    async for one in frames:
        yield one
