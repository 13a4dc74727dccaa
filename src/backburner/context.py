"""What a handler gets: `Context` (async handlers) and `SyncContext` (plain ``def`` handlers)."""

from __future__ import annotations

import asyncio
import inspect
import json
import math
from collections.abc import Callable
from typing import Any

from pydantic_core import to_jsonable_python

from .artifacts import Artifacts
from .jobs import Job
from .storage import Lease, Storage

__all__ = ["Context", "SyncContext"]


class Context:
    """Handed to an async handler: who the job is for, and how to report on it.

    ```python
    @app.task(timeout="10m")
    async def script_video(ctx: bb.Context, script: ScriptIn) -> VideoOut:
        board = await ctx.step("storyboard", make_storyboard, script.text)
        scenes = board["scenes"]
        for i, scene in enumerate(scenes, 1):
            await ctx.progress(i / len(scenes), f"Generating scene {i}/{len(scenes)}…")
            clip = await ctx.step(f"scene-{i}", render_scene, scene)
            await ctx.partial(f"scene-{i}", clip)
        ...
    ```

    Every write is fenced by the job's lease: if another worker has taken the job over, the
    write raises and the handler stops. Cancellation arrives as `asyncio.CancelledError`.
    """

    def __init__(
        self, job: Job, lease: Lease, storage: Storage, artifacts: Artifacts | None = None
    ) -> None:
        #: The job as it was claimed (id, kind, owner, scope, input, attempt …).
        self.job = job
        self._lease = lease
        self._storage = storage
        self._artifacts = artifacts
        self._steps: dict[str, Any] | None = None

    @property
    def attempt(self) -> int:
        """Which try this is: 1 on the first run."""
        return self.job.attempt

    async def progress(self, fraction: float | None = None, message: str | None = None) -> None:
        """Report progress: a fraction 0–1 (``None`` when unknown) and a short message."""
        if fraction is not None and not (
            isinstance(fraction, int | float) and math.isfinite(fraction) and 0 <= fraction <= 1
        ):
            raise ValueError(f"progress: fraction must be between 0 and 1, got {fraction!r}")
        await self._storage.update_progress(self._lease, fraction, message)

    async def partial(self, key: str, value: Any) -> None:
        """Publish one partial result (a finished scene, a draft) while the job runs."""
        await self._storage.set_partial(self._lease, key, _as_json(value, f"partial {key!r}"))

    async def save_artifact(self, name: str, data: bytes, content_type: str) -> str:
        """Keep a binary output (an image, audio, a video) as the job's artifact ``name``;
        returns the URL the API serves it at, with the job's owner check."""
        if self._artifacts is None:
            raise RuntimeError("save_artifact: this context has no artifact store")
        return (await self._artifacts.save(self.job.id, name, data, content_type)).url

    async def step(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` once per job; on later attempts return its stored result.

        The result is stored as JSON and returned as JSON (a model comes back as a dict) on
        the first run too, so a replay behaves like the run it replaces. A step that raises
        stores nothing and runs again next time. Plain functions run in a thread.
        """
        found, value = await self._stored_step(name)
        if found:
            return value
        if inspect.iscoroutinefunction(fn):
            result = await fn(*args)
        else:
            result = await asyncio.to_thread(fn, *args)
            if inspect.isawaitable(result):
                result = await result
        return await self._store_step(name, result)

    async def _stored_step(self, name: str) -> tuple[bool, Any]:
        if self._steps is None:
            self._steps = await self._storage.load_steps(self.job.id)
        return (name in self._steps, self._steps.get(name))

    async def _store_step(self, name: str, result: Any) -> Any:
        stored = _as_json(result, f"step {name!r}")
        await self._storage.save_step(self._lease, name, stored)
        assert self._steps is not None
        self._steps[name] = stored
        return stored


class SyncContext:
    """Handed to a plain ``def`` handler, which runs in a thread: the same calls, blocking.

    Cancellation and timeouts cannot interrupt a thread: the job is recorded as canceled
    (or timed out) at once, and the next call the handler makes on this context raises
    `asyncio.CancelledError` so it can stop.
    """

    def __init__(self, context: Context, loop: asyncio.AbstractEventLoop) -> None:
        self._context = context
        self._loop = loop
        self.stopped = False

    @property
    def job(self) -> Job:
        """The job as it was claimed."""
        return self._context.job

    @property
    def attempt(self) -> int:
        """Which try this is: 1 on the first run."""
        return self._context.attempt

    def progress(self, fraction: float | None = None, message: str | None = None) -> None:
        """Report progress; see `Context.progress`."""
        self._call(self._context.progress(fraction, message))

    def partial(self, key: str, value: Any) -> None:
        """Publish one partial result; see `Context.partial`."""
        self._call(self._context.partial(key, value))

    def save_artifact(self, name: str, data: bytes, content_type: str) -> str:
        """Keep a binary output as the job's artifact ``name``; returns its URL."""
        return str(self._call(self._context.save_artifact(name, data, content_type)))

    def step(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` once per job, in this thread; see `Context.step`."""
        found, value = self._call(self._context._stored_step(name))
        if found:
            return value
        return self._call(self._context._store_step(name, fn(*args)))

    def _call(self, coro: Any) -> Any:
        if self.stopped:
            coro.close()
            raise asyncio.CancelledError("the job was stopped")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()


def _as_json(value: Any, where: str) -> Any:
    """``value`` as plain JSON data (models become dicts), or a `ValueError` naming ``where``."""
    try:
        return json.loads(json.dumps(to_jsonable_python(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: not JSON-serialisable ({exc})") from None
