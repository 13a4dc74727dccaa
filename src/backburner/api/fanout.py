"""One reader of new events per API process, handing each to the streams that follow it.

Without it every SSE stream woke on any database change and ran a query of its own: with
500 streams, 500 queries per change, and a server that fell seconds behind. Now one task
(`EventHub`) waits for a change, reads the new events once (`Storage.event_feed`), and puts
each in the `Subscription` of every stream that follows its job (or its owner's scope, or
all of its owner's jobs).

A stream subscribes *before* it reads its backlog from the database, so every event is
either in that backlog or delivered here (some in both: streams skip ids they have sent).
The database stays the truth: a subscriber that falls too far behind, or a hub whose read
failed, is told to read from the database itself (`Subscription.overflowed`). Reading "after
the last id" misses nothing on either backend: event ids are handed out in commit order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from ..app import Backburner
from ..jobs import Event

__all__ = ["EventHub", "Subscription", "hub_for"]

log = logging.getLogger(__name__)

#: Events read per query; more are read at once, without waiting for a change.
BATCH = 500
#: The longest wait for a change before reading again anyway.
CHECK_S = 1.0
#: Events a subscriber may leave unread before it must catch up from the database.
MAX_PENDING = 10_000
#: After a failed read, the pause before the next (the streams read on their own meanwhile).
RETRY_S = 1.0

#: A stream's SSE ``id`` for an event, from its ``events.id`` and the event.
IdOf = Callable[[int, Event], int]


@dataclass(eq=False)
class Subscription:
    """Events for one stream, as ``(id, event)``, with ``id`` as the stream numbers them."""

    id_of: IdOf
    pending: list[tuple[int, Event]] = field(default_factory=list)
    #: The hub could not deliver everything: read from the database after the last id sent.
    overflowed: bool = False
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def take(self) -> list[tuple[int, Event]] | None:
        """The events delivered since the last call, oldest first; ``None`` when some could
        not be delivered: the stream must read from the database after the last id it sent."""
        self._arrived.clear()
        if self.overflowed:
            self.pending, self.overflowed = [], False
            return None
        taken, self.pending = self.pending, []
        return taken

    async def wait(self, timeout_s: float) -> None:
        """Return when events arrive (or an overflow is flagged), or after ``timeout_s``."""
        if self.pending or self.overflowed:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):  # not wait_for: 3.11's can swallow a cancel
                await self._arrived.wait()

    def put(self, event_id: int, event: Event) -> None:
        if self.overflowed:
            return
        if len(self.pending) >= MAX_PENDING:
            self.flag_overflow()
            return
        self.pending.append((self.id_of(event_id, event), event))
        self._arrived.set()

    def flag_overflow(self) -> None:
        self.pending = []
        self.overflowed = True
        self._arrived.set()


class EventHub:
    """Reads new events once per change and delivers them to subscribed streams.

    The reading task runs only while someone is subscribed; the first subscriber starts it
    at the newest event id, the last one to leave stops it.
    """

    def __init__(self, app: Backburner) -> None:
        self._app = app
        #: ``("job", job_id)``, ``("scope", owner, scope)`` or ``("owner", owner)`` → the
        #: streams following it.
        self._subs: dict[tuple[str, ...], set[Subscription]] = {}
        self._count = 0
        #: Set once the hub reads from where new events start: later ones reach every subscriber.
        self._ready: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    def job(self, job_id: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        """Subscribe to one job's events, numbered by their ``seq``."""
        return self._subscribed(("job", job_id), lambda _id, event: event.seq)

    def scope(
        self, owner: str, scope: str | None
    ) -> contextlib.AbstractAsyncContextManager[Subscription]:
        """Subscribe to the events of ``owner``'s jobs in ``scope`` (``None``: all of the
        owner's jobs, whatever their scope), numbered by event id."""
        key = ("owner", owner) if scope is None else ("scope", owner, scope)
        return self._subscribed(key, lambda event_id, _event: event_id)

    @contextlib.asynccontextmanager
    async def _subscribed(self, key: tuple[str, ...], id_of: IdOf) -> AsyncIterator[Subscription]:
        sub = Subscription(id_of)
        self._subs.setdefault(key, set()).add(sub)
        self._count += 1
        try:
            await self._started()  # from here on, every new event reaches `sub`
            yield sub
        finally:
            subs = self._subs.get(key)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[key]
            self._count -= 1
            if self._count == 0:
                self._stop()

    async def _started(self) -> None:
        if self._ready is None:
            ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._ready = ready
            self._task = asyncio.create_task(self._run(ready), name="bb-event-hub")
        await asyncio.shield(self._ready)

    def _stop(self) -> None:
        task, self._task, self._ready = self._task, None, None
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        """Stop reading (the API is shutting down), and wait until the reader has stopped."""
        task = self._task
        self._stop()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, ready: asyncio.Future[None]) -> None:
        try:
            storage = await self._app.open()
            after = (await storage.event_feed(None))[0]
        except Exception as exc:
            ready.set_exception(exc)  # raised to the subscribers waiting to start
            return
        ready.set_result(None)
        while True:
            try:
                after, batch = await storage.event_feed(after, BATCH)
            except Exception:
                log.exception("reading new events failed; the streams read on their own")
                self._read_on_their_own()
                await asyncio.sleep(RETRY_S)
                continue
            self._deliver(batch)
            if len(batch) < BATCH:
                await storage.wait_for_change(CHECK_S)

    def _read_on_their_own(self) -> None:
        for subs in self._subs.values():
            for sub in subs:
                sub.flag_overflow()

    def _deliver(self, batch: list[tuple[int, str, str | None, Event]]) -> None:
        for event_id, owner, scope, event in batch:
            for sub in self._subs.get(("job", event.job_id), ()):
                sub.put(event_id, event)
            if scope is not None:
                for sub in self._subs.get(("scope", owner, scope), ()):
                    sub.put(event_id, event)
            for sub in self._subs.get(("owner", owner), ()):
                sub.put(event_id, event)


def hub_for(app: Backburner, state: object) -> EventHub:
    """The hub of the API whose ``app.state`` is ``state``, made on first use."""
    hub: EventHub | None = getattr(state, "event_hub", None)
    if hub is None:
        hub = EventHub(app)
        setattr(state, "event_hub", hub)  # noqa: B010 - starlette's State takes any attribute
    return hub
