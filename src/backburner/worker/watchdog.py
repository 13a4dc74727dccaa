"""Internal: stopping an async handler that blocks the event loop past its deadline.

A handler that calls ``time.sleep`` or spins in pure Python never yields, so
``asyncio.timeout`` cannot fire. `LoopWatch` knows which job's handler the loop is stepping
right now; the heartbeat thread calls `LoopWatch.check`, and when the current handler is past
its deadline it raises `HandlerStuck` inside that handler: by a signal when the loop runs in
the main thread (this also interrupts ``time.sleep``), else by ``PyThreadState_SetAsyncExc``.
"""

from __future__ import annotations

import ctypes
import signal
import threading
import time
from collections.abc import Coroutine, Generator
from types import FrameType
from typing import Any

__all__ = ["HandlerStuck", "LoopWatch"]

#: How far past its deadline a handler may block the loop before it is interrupted.
_GRACE_S = 1.0
_SIGNAL = signal.SIGUSR2


class HandlerStuck(BaseException):
    """Raised inside a handler that blocked the event loop past its deadline.

    A `BaseException`, so a handler's ``except Exception`` does not swallow it.
    """


class LoopWatch:
    """Which job's handler the event loop is running, and each handler's deadline."""

    def __init__(self) -> None:
        self.current: str | None = None
        #: Handler steps run so far: unchanged between two checks means one step is stuck.
        self.steps = 0
        self._seen: tuple[str, int] | None = None
        #: ``time.monotonic()`` deadlines by job id.
        self.deadlines: dict[str, float] = {}
        self._loop_thread = threading.get_ident()
        self._target: str | None = None
        self._by_signal = False

    def bind(self, *, use_signal: bool) -> None:
        """Call from the loop's thread; ``use_signal`` only from the main thread."""
        self._loop_thread = threading.get_ident()
        if use_signal and threading.current_thread() is threading.main_thread():
            signal.signal(_SIGNAL, self._on_signal)
            self._by_signal = True

    def track(self, job_id: str, coro: Coroutine[Any, Any, Any]) -> _Tracked:
        """Wrap a handler's coroutine so the watch knows while it runs."""
        return _Tracked(self, job_id, coro)

    def check(self) -> None:
        """From another thread: interrupt the current handler if it is past its deadline."""
        job_id, steps = self.current, self.steps
        previous, self._seen = self._seen, (job_id or "", steps)
        if job_id is None or previous != self._seen:
            return  # the loop moved since the last check: not stuck in one step
        deadline = self.deadlines.get(job_id)
        if deadline is not None and time.monotonic() > deadline + _GRACE_S:
            self._target = job_id
            if self._by_signal:
                signal.pthread_kill(self._loop_thread, _SIGNAL)
            else:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(self._loop_thread), ctypes.py_object(HandlerStuck)
                )

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        # Runs in the loop's thread between bytecodes: `current` is exactly what runs now.
        if self._target is not None and self.current == self._target:
            self._target = None
            raise HandlerStuck()


class _Tracked:
    """An awaitable that drives a coroutine, marking the watch while each step runs."""

    __slots__ = ("_coro", "_job_id", "_watch")

    def __init__(self, watch: LoopWatch, job_id: str, coro: Coroutine[Any, Any, Any]) -> None:
        self._watch, self._job_id, self._coro = watch, job_id, coro

    def __await__(self) -> Generator[Any, Any, Any]:
        value: Any = None
        error: BaseException | None = None
        while True:
            self._watch.current = self._job_id
            self._watch.steps += 1
            try:
                yielded = self._coro.send(value) if error is None else self._coro.throw(error)
            except StopIteration as stop:
                return stop.value
            finally:
                self._watch.current = None
            value, error = None, None
            try:
                value = yield yielded
            except BaseException as exc:  # delivered into the handler, as await would
                error = exc
