"""The app the acceptance tests' worker processes load: ``tests.apps.acceptance_app:app``.

Handlers leave evidence a test can check after the fact: a line per event appended (with
``O_APPEND``, one ``write`` per line, so lines from several processes never interleave) to
a log file the job's input names. Each line is ``<job id> <what> <pid> …``.

``app`` is built on first access (PEP 562), from the ``BACKBURNER_*`` environment of the
process that asks for it; tests build their own copy on their database with `build_app`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

import backburner as bb

__all__ = ["build_app", "read_records", "record"]


def record(path: str, *fields: object) -> None:
    """Append one line of space-separated ``fields`` to ``path``, atomically."""
    line = (" ".join(str(f) for f in fields) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_records(path: str | os.PathLike[str]) -> list[list[str]]:
    """The lines `record` wrote, split into fields (an absent file has none)."""
    try:
        with open(path) as f:
            return [line.split() for line in f if line.strip()]
    except FileNotFoundError:
        return []


class SleepIn(BaseModel):
    ms: int = 0
    log: str | None = None


class StepsIn(BaseModel):
    steps: int
    step_ms: int
    log: str


class RoundsIn(BaseModel):
    rounds: int
    round_ms: int
    log: str
    #: Before round 2, block the event loop until this file exists.
    gate: str | None = None
    #: Return as soon as the gate opens, writing nothing more (then only the finish writes).
    return_at_gate: bool = False


class LongOnceIn(BaseModel):
    seconds: float
    marker: str


class SecondsIn(BaseModel):
    seconds: float


def _block_until(path: str, timeout_s: float = 60.0) -> None:
    """Block the calling thread (the event loop, in a handler) until ``path`` exists."""
    deadline = time.monotonic() + timeout_s
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)


def _step_body(log: str, job_id: str, number: int, ms: int) -> dict[str, int]:
    """One durable step's real work: say so, then take ``ms`` milliseconds."""
    record(log, job_id, "step", os.getpid(), number)
    time.sleep(ms / 1000)
    return {"step": number, "pid": os.getpid()}


async def sleepy(ctx: bb.Context, inp: SleepIn) -> dict[str, int]:
    """Take ``ms`` milliseconds; log ``start`` and ``end`` (with monotonic ns)."""
    pid = os.getpid()
    if inp.log:
        record(inp.log, ctx.job.id, "start", pid, ctx.attempt, time.monotonic_ns())
    await asyncio.sleep(inp.ms / 1000)
    if inp.log:
        record(inp.log, ctx.job.id, "end", pid, ctx.attempt, time.monotonic_ns())
    return {"pid": pid}


async def stepped(ctx: bb.Context, inp: StepsIn) -> dict[str, Any]:
    """Steps 1..N, each a durable `ctx.step` whose body logs that it really ran."""
    results = []
    for number in range(1, inp.steps + 1):
        await ctx.progress(number / inp.steps, f"step {number}/{inp.steps}")
        results.append(
            await ctx.step(f"step-{number}", _step_body, inp.log, ctx.job.id, number, inp.step_ms)
        )
    return {"steps": results, "pid": os.getpid()}


async def chatty(ctx: bb.Context, inp: RoundsIn) -> dict[str, int]:
    """Report progress and a partial (naming its pid) every round; log how it ended.

    With ``gate``, round 2 starts with a wait that blocks the event loop (logged as
    ``gated``), so when the wait ends round 2's writes are issued before the worker can
    learn anything new.
    """
    pid = os.getpid()
    try:
        for number in range(1, inp.rounds + 1):
            if number == 2 and inp.gate:
                record(inp.log, ctx.job.id, "gated", pid, number)
                _block_until(inp.gate)
                if inp.return_at_gate:
                    break
            record(inp.log, ctx.job.id, "writing", pid, number)
            await ctx.progress(number / inp.rounds, f"pid {pid} round {number}")
            await ctx.partial(f"round-{number}", {"pid": pid})
            record(inp.log, ctx.job.id, "round", pid, number)
            await asyncio.sleep(inp.round_ms / 1000)
    except BaseException as exc:
        record(inp.log, ctx.job.id, "stopped", pid, type(exc).__name__)
        raise
    record(inp.log, ctx.job.id, "returned", pid)
    return {"pid": pid}


async def crasher(ctx: bb.Context, inp: dict[str, Any]) -> None:
    """Kill the worker running it, every time."""
    os.kill(os.getpid(), signal.SIGKILL)


async def long_once(ctx: bb.Context, inp: LongOnceIn) -> dict[str, int]:
    """Take ``seconds`` the first time it ever runs (``marker`` remembers), then none."""
    if not os.path.exists(inp.marker):
        record(inp.marker, ctx.job.id, "long", os.getpid(), ctx.attempt)
        await asyncio.sleep(inp.seconds)
    return {"pid": os.getpid()}


async def blocker(ctx: bb.Context, inp: SecondsIn) -> None:
    """Block the worker's event loop (a synchronous sleep inside ``async def``)."""
    time.sleep(inp.seconds)


async def dawdler(ctx: bb.Context, inp: SecondsIn) -> None:
    """Sleep cooperatively past its 1 s timeout."""
    await asyncio.sleep(inp.seconds)


async def lingerer(ctx: bb.Context, inp: SecondsIn) -> None:
    """Sleep cooperatively past its 2 s expiry (no per-attempt timeout)."""
    await asyncio.sleep(inp.seconds)


#: Every kind, with its policy.
async def paid_sleepy(ctx: bb.Context, inp: SleepIn) -> dict[str, int]:
    """`sleepy` for 1 credit."""
    return await sleepy(ctx, inp)


async def throttled(ctx: bb.Context, inp: SleepIn) -> dict[str, int]:
    """`sleepy`, at most 2 at once across every worker."""
    return await sleepy(ctx, inp)


_KINDS: list[tuple[Callable[..., Any], dict[str, Any]]] = [
    (sleepy, {"attempts": 3}),
    (paid_sleepy, {"attempts": 3, "cost": 1}),
    (throttled, {"attempts": 3, "concurrency": 2}),
    (stepped, {"attempts": 3}),
    (chatty, {"attempts": 3}),
    (crasher, {"attempts": 3}),
    (long_once, {"attempts": 3}),
    (blocker, {"timeout": "2s", "attempts": 1}),
    (dawdler, {"timeout": "1s", "attempts": 1}),
    (lingerer, {"expire_after": "2s", "attempts": 3}),
]


def build_app(settings: bb.Settings | None = None) -> bb.Backburner:
    """A fresh app with every acceptance kind registered."""
    app = bb.Backburner(settings=settings)
    for handler, policy in _KINDS:
        app.task(**policy)(handler)
    return app


def __getattr__(name: str) -> bb.Backburner:
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class PulseIn(BaseModel):
    ms: int = 0
    log: str | None = None
    #: Before reporting progress, wait (yielding, ≤ 60 s) until this file exists.
    gate: str | None = None


async def _wait_for_file(path: str, timeout_s: float = 60.0) -> None:
    """Wait, without blocking the loop, until ``path`` exists (or ``timeout_s`` passes)."""
    deadline = time.monotonic() + timeout_s
    while not os.path.exists(path) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


async def pulse(ctx: bb.Context, inp: PulseIn) -> dict[str, int]:
    """Take ``ms`` milliseconds, reporting progress once halfway (after ``gate`` opens); log
    ``start`` and how the attempt ended, ``end`` or ``stopped`` (with monotonic ns)."""
    pid = os.getpid()
    if inp.log:
        record(inp.log, ctx.job.id, "start", pid, ctx.attempt, time.monotonic_ns())
    ended = "stopped"
    try:
        await asyncio.sleep(inp.ms / 2000)
        if inp.gate:
            await _wait_for_file(inp.gate)
        await ctx.progress(0.5, f"pid {pid}")
        await asyncio.sleep(inp.ms / 2000)
        ended = "end"
    finally:
        if inp.log:
            record(inp.log, ctx.job.id, ended, pid, ctx.attempt, time.monotonic_ns())
    return {"pid": pid}


#: A PostgreSQL restart can fail a progress write (a retry): room for more than one.
_KINDS.append((pulse, {"attempts": 5}))
