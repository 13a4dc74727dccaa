"""Internal: callers on any event loop waiting for a wake-up sent from any thread.

A storage is used from several loops (the sync facade's, a script's ``asyncio.run``, a
test's), and what announces a change (PostgreSQL's listener) runs in a thread of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import TypeVar

__all__ = ["Waiters"]

T = TypeVar("T")


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
            async with asyncio.timeout(timeout_s):  # not wait_for: 3.11's can swallow a cancel
                await waiter[1]
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
