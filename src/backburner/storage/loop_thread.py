"""Internal: a private event loop in a thread, and waiters woken from it.

An asyncio database connection belongs to the loop that opened it. A storage used from
several loops (a script's ``asyncio.run`` after the sync facade's loop, a test's loop) keeps
its connections on a loop of its own, `LoopThread`, and callers on any loop hand it their
coroutines. `Waiters` lets callers on any loop wait for a wake-up sent from that thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread", "Waiters"]

T = TypeVar("T")


class LoopThread:
    """An event loop running in a daemon thread, started on first use."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        """Whether the loop has been started (and not stopped)."""
        return self._loop is not None

    def _get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the private loop and return its result here.

        Cancelling the caller does not cancel ``coro``: a transaction, once started, runs
        to its end (its connection and locks are never left half-way).
        """
        future = asyncio.run_coroutine_threadsafe(coro, self._get())
        future.add_done_callback(_retrieve)
        return await asyncio.shield(asyncio.wrap_future(future))

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on the private loop."""
        self._get().call_soon_threadsafe(callback)

    def stop(self) -> None:
        """Stop the loop and wait for its thread; what still runs there is abandoned."""
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        if not thread.is_alive():
            loop.close()


def _retrieve(future: concurrent.futures.Future[Any]) -> None:
    """Mark the outcome of a coroutine whose caller stopped waiting as seen."""
    if not future.cancelled():
        future.exception()


class Waiters:
    """Callers waiting for a change, on any loop, woken by `wake` from any thread.

    A wake with nobody waiting is remembered: the next caller returns at once, so a change
    announced just before a caller started waiting is not slept through.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._missed = False

    async def wait(self, timeout_s: float) -> None:
        """Return at the next `wake` (or at once after a missed one), or after ``timeout_s``."""
        loop = asyncio.get_running_loop()
        waiter = (loop, loop.create_future())
        with self._lock:
            if self._missed:
                self._missed = False
                return
            self._waiting.append(waiter)
        try:
            await asyncio.wait_for(waiter[1], timeout_s)
        except TimeoutError:
            pass
        finally:
            with self._lock, contextlib.suppress(ValueError):
                self._waiting.remove(waiter)

    def wake(self) -> None:
        """Wake every caller waiting now (or, with none, the next one)."""
        with self._lock:
            waiting, self._waiting = self._waiting, []
            self._missed = not waiting
        for loop, future in waiting:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
